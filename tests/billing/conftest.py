from collections import defaultdict
from decimal import Decimal

import pytest

from billing.models import LedgerEntry


@pytest.fixture(autouse=True)
def ledger_balanced(request):
    """After every billing test that touches the database: the ledger sums to zero per
    currency (SPEC §4.6). The database fixture is requested first so that this check runs
    before the test's data is rolled back or flushed."""
    transactional = "transactional_db" in request.fixturenames or any(
        marker.kwargs.get("transaction") for marker in request.node.iter_markers("django_db")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
    elif "db" in request.fixturenames or request.node.get_closest_marker("django_db"):
        request.getfixturevalue("db")
    else:
        yield
        return
    yield
    totals = defaultdict(Decimal)  # in decimals: SQLite sums decimal columns as floats
    for currency, amount in LedgerEntry.objects.values_list("account__currency", "amount"):
        totals[currency] += amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    assert not unbalanced, f"the ledger does not balance: {unbalanced}"
