"""Aggregates shared by the apps that sum money columns (STYLE.md: nothing but config imports
billing, so what marketplace and billing both need lives here)."""

from django.db.models import Sum

from config.money import RATE_PLACES


class ExactSum(Sum):
    """SUM of an amount column, exact on both databases. PostgreSQL sums numerics exactly.
    SQLite keeps decimals as floats and sums them as floats, whose errors pile up over many
    rows (189 entries were enough to show 0.02 for 0.01); there the amounts are summed as
    integers of 10^-RATE_PLACES (no amount has more places) and divided once at the end, which
    is as exact as SQLite stores any decimal."""

    def as_sqlite(self, compiler, connection, **extra_context):
        units = 10**RATE_PLACES
        template = f"SUM(CAST(ROUND(%(expressions)s * {units}) AS INTEGER)) / {units}.0"
        return super().as_sqlite(compiler, connection, template=template, **extra_context)
