"""Pay arithmetic of SPEC §7, pure: no models, no database.

Accuracies are exact fractions, so a worker exactly on a tier boundary gets that tier; products
are exact decimals, rounded half-even at the currency's minor unit once, at the end.
"""

import decimal
import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from config.money import money_round

# Statement lines show the accuracy truncated to this many places. Tier boundaries have at most
# as many (config.money.tiers_normalise), so the shown accuracy falls in the same tier as the
# exact one: truncating never lifts a worker over a boundary they did not reach.
ACCURACY_PLACES = 4

# Enough digits that n x rate x multiplier is never rounded by the decimal context (default
# precision 28) before money_round: a 14-digit rate and multiplier and a count need ~40.
_PRECISION = 80
_EXACT = decimal.Context(prec=_PRECISION, traps=[decimal.Inexact, decimal.InvalidOperation])


def exact(value: float | int | str | Decimal) -> Fraction:
    """A number as an exact fraction; floats (the priors are JSON numbers) as written, so a
    prior of 0.1 is 1/10 and not its binary approximation."""
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def accuracy(
    *,
    gold_correct: int,
    gold_seen: int,
    prior_correct: float | int | Decimal,
    prior_seen: float | int | Decimal,
) -> Fraction:
    """SPEC §6 over the gold answered in the period: `(correct + prior_correct) / (seen +
    prior_seen)`. With no gold and no prior there is no evidence of accuracy: 0, as in
    qc.scoring.accuracy_estimate."""
    seen = gold_seen + exact(prior_seen)
    if seen == 0:
        return Fraction(0)
    return (gold_correct + exact(prior_correct)) / seen


def accuracy_shown(value: Fraction) -> Decimal:
    """The accuracy as a statement shows it: truncated to ACCURACY_PLACES (see there why)."""
    return Decimal(math.floor(value * 10**ACCURACY_PLACES)).scaleb(-ACCURACY_PLACES)


def multiplier(value: Fraction, tiers: list[dict]) -> Decimal:
    """The multiplier of the highest tier whose min_accuracy <= value; 0 below the lowest tier;
    1 when there are no tiers. Compared as exact fractions, never as rounded floats."""
    if not tiers:
        return Decimal(1)
    reached = [tier for tier in tiers if exact(Decimal(tier["min_accuracy"])) <= value]
    if not reached:
        return Decimal(0)
    best = max(reached, key=lambda tier: Decimal(tier["min_accuracy"]))
    return Decimal(best["multiplier"])


def amount(*, judgments: int, rate: Decimal, multiplier: Decimal, currency: str) -> Decimal:
    """round_half_even(n x rate x multiplier) at the currency's minor unit; the product is exact."""
    product = _EXACT.multiply(_EXACT.multiply(Decimal(judgments), rate), multiplier)
    with decimal.localcontext(prec=_PRECISION):
        return money_round(product, currency)


@dataclass(frozen=True)
class LinePay:
    accuracy: Decimal  # as shown on the statement
    multiplier: Decimal
    amount: Decimal


def line_pay(
    *,
    judgments: int,
    gold_seen: int,
    gold_correct: int,
    prior_correct: float,
    prior_seen: float,
    tiers: list[dict],
    rate: Decimal,
    currency: str,
) -> LinePay:
    """A statement line's figures for one worker on one project in one run (SPEC §7)."""
    value = accuracy(
        gold_correct=gold_correct,
        gold_seen=gold_seen,
        prior_correct=prior_correct,
        prior_seen=prior_seen,
    )
    factor = multiplier(value, tiers)
    return LinePay(
        accuracy=accuracy_shown(value),
        multiplier=factor,
        amount=amount(judgments=judgments, rate=rate, multiplier=factor, currency=currency),
    )


def correction_amount(
    *,
    judgments: int,
    reversed_judgments: int,
    rate: Decimal,
    multiplier: Decimal,
    currency: str,
    booked: Decimal,
) -> Decimal:
    """What a line's new reversals take back: the line's pay recomputed for the judgments that
    stand, minus what the line and its earlier corrections booked (`booked`).

    Recomputing from the total rather than pricing the reversed judgments alone keeps rounding
    from drifting over several corrections: once every judgment is reversed the line nets to 0.
    """
    standing = judgments - reversed_judgments
    return amount(judgments=standing, rate=rate, multiplier=multiplier, currency=currency) - booked
