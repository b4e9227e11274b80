"""billing.pay: SPEC §7's arithmetic, exhaustively and without a database."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import pay
from config.money import tiers_normalise

DEFAULT_TIERS = tiers_normalise(
    [
        {"min_accuracy": "0.90", "multiplier": "1.10"},
        {"min_accuracy": "0.75", "multiplier": "1.00"},
        {"min_accuracy": "0.60", "multiplier": "0.50"},
    ]
)


def line(judgments=10, seen=0, correct=0, prior=(4, 5), tiers=DEFAULT_TIERS, rate="0.05"):
    return pay.line_pay(
        judgments=judgments,
        gold_seen=seen,
        gold_correct=correct,
        prior_correct=prior[0],
        prior_seen=prior[1],
        tiers=tiers,
        rate=Decimal(rate),
        currency="USD",
    )


# --- the accuracy estimate and the tier boundaries ------------------------------------------


@pytest.mark.parametrize(
    ("seen", "correct", "accuracy", "multiplier"),
    [
        (0, 0, "0.8000", "1.00"),  # no gold in the period: the prior alone, 4/5
        (5, 5, "0.9000", "1.10"),  # (5+4)/(5+5): exactly on the top tier
        (15, 14, "0.9000", "1.10"),  # (14+4)/(15+5) = 18/20
        (25, 23, "0.9000", "1.10"),  # 27/30
        (6, 5, "0.8181", "1.00"),  # 9/11, shown truncated
        (995, 895, "0.8990", "1.00"),  # 899/1000 just below 0.90
        (3, 2, "0.7500", "1.00"),  # 6/8: exactly on the middle tier
        (7, 5, "0.7500", "1.00"),  # 9/12
        (16, 11, "0.7142", "0.50"),  # 15/21 just below 0.75
        (5, 2, "0.6000", "0.50"),  # 6/10: exactly on the lowest tier
        (10, 5, "0.6000", "0.50"),  # 9/15
        (7, 3, "0.5833", "0"),  # 7/12 below the lowest tier: nothing
        (20, 0, "0.1600", "0"),
    ],
)
def test_accuracy_with_the_prior_picks_the_tier(seen, correct, accuracy, multiplier):
    figures = line(seen=seen, correct=correct)

    assert figures.accuracy == Decimal(accuracy)
    assert figures.multiplier == Decimal(multiplier)


def test_a_hair_below_a_boundary_is_the_tier_below():
    # (899 + 1) / (999 + 1) = 0.9 exactly; (898 + 1) / (999 + 1) = 0.899
    assert line(seen=999, correct=899, prior=(1, 1)).multiplier == Decimal("1.10")
    assert line(seen=999, correct=898, prior=(1, 1)).multiplier == Decimal("1.00")
    # 0.8999999... (a repeating fraction) is below 0.90 however it would round
    assert pay.multiplier(Fraction(9, 10) - Fraction(1, 10**12), DEFAULT_TIERS) == Decimal("1.00")


def test_the_tier_is_picked_exactly_where_floats_would_miss_it():
    # (1 + 0.2) / (1 + 0.6) is 0.75; in floats it comes out 0.7499999999999999
    assert (1 + 0.2) / (1 + 0.6) < 0.75
    figures = line(seen=1, correct=1, prior=(0.2, 0.6))

    assert (figures.accuracy, figures.multiplier) == (Decimal("0.7500"), Decimal("1.00"))


def test_no_tiers_means_a_multiplier_of_one_and_one_tier_means_zero_below_it():
    assert line(seen=20, correct=0, tiers=[]).multiplier == 1
    single = [{"min_accuracy": "0.5", "multiplier": "2"}]
    assert line(seen=10, correct=1, tiers=single).multiplier == 0  # 5/15
    assert pay.multiplier(Fraction(1, 2), single) == 2
    assert pay.multiplier(Fraction(1, 2) - Fraction(1, 10**9), single) == 0


def test_tier_order_does_not_matter_and_a_zero_tier_covers_everything():
    tiers = [
        {"min_accuracy": "0", "multiplier": "0.1"},
        {"min_accuracy": "1", "multiplier": "3"},
        {"min_accuracy": "0.5", "multiplier": "1"},
    ]
    assert pay.multiplier(Fraction(0), tiers) == Decimal("0.1")
    assert pay.multiplier(Fraction(1, 2), tiers) == 1
    assert pay.multiplier(Fraction(1), tiers) == 3


def test_no_gold_and_no_prior_is_no_evidence_of_accuracy():
    assert pay.accuracy(gold_correct=0, gold_seen=0, prior_correct=0, prior_seen=0) == 0
    assert line(prior=(0, 0)).amount == 0
    assert line(prior=(0, 0), tiers=[]).amount == Decimal("0.50")


# --- amounts: exact product, one half-even rounding at the minor unit -----------------------


@pytest.mark.parametrize(
    ("judgments", "rate", "multiplier", "currency", "amount"),
    [
        (2, "0.0125", "1", "USD", "0.02"),  # 0.025 → 0.02 (half to even)
        (6, "0.0125", "1", "USD", "0.08"),  # 0.075 → 0.08
        (3, "0.0050", "1.10", "USD", "0.02"),  # 0.0165; rounding each judgment would give 0.03
        (1, "10.5", "1", "JPY", "10"),  # JPY has no minor unit: 10.5 → 10
        (3, "10.5", "1", "JPY", "32"),  # 31.5 → 32
        (1, "0.0125", "1.10", "BHD", "0.014"),  # BHD has 3 places: 0.01375 → 0.014
        (7, "0.0525", "0.50", "EUR", "0.18"),  # 0.18375
        (0, "1", "1.10", "USD", "0.00"),
        (10, "0", "1.10", "USD", "0.00"),
        # 36 significant digits: more than the decimal module's default precision of 28
        (1_000_000, "9999999999.9999", "9999999999.9999", "USD", None),
    ],
)
def test_amount_rounds_half_even_at_the_minor_unit_only_at_the_end(
    judgments, rate, multiplier, currency, amount
):
    result = pay.amount(
        judgments=judgments, rate=Decimal(rate), multiplier=Decimal(multiplier), currency=currency
    )

    if amount is None:
        exact = Fraction(judgments) * Fraction(rate) * Fraction(multiplier)
        assert Fraction(result) == half_even(exact, 2)
    else:
        assert result == Decimal(amount)
        assert str(result) == amount


# --- properties -------------------------------------------------------------------------------

decimals4 = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False)
accuracies = st.fractions(min_value=0, max_value=1)
tier_lists = st.lists(
    st.tuples(st.decimals(min_value=0, max_value=1, places=2), decimals4),
    max_size=5,
    unique_by=lambda tier: tier[0],
).map(lambda tiers: [{"min_accuracy": str(a), "multiplier": str(m)} for a, m in tiers])


def monotone(tiers: list[dict]) -> list[dict]:
    """The same boundaries with multipliers rising with them (what real pay tables do)."""
    floors = sorted(Decimal(tier["min_accuracy"]) for tier in tiers)
    factors = sorted(Decimal(tier["multiplier"]) for tier in tiers)
    return [
        {"min_accuracy": str(a), "multiplier": str(m)} for a, m in zip(floors, factors, strict=True)
    ]


def half_even(value: Fraction, places: int) -> Fraction:
    """Reference rounding on fractions, independent of the decimal module."""
    scaled = value * 10**places
    floor = scaled.numerator // scaled.denominator
    rest = scaled - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return Fraction(floor, 10**places)


@given(accuracy=accuracies, tiers=tier_lists)
def test_the_multiplier_is_the_highest_tier_reached(accuracy, tiers):
    reached = [t for t in tiers if Fraction(t["min_accuracy"]) <= accuracy]
    if not tiers:
        expected = Decimal(1)
    elif not reached:
        expected = Decimal(0)
    else:
        expected = Decimal(max(reached, key=lambda t: Fraction(t["min_accuracy"]))["multiplier"])

    assert pay.multiplier(accuracy, tiers) == expected


@given(
    judgments=st.integers(0, 10**6),
    rate=decimals4,
    multiplier=decimals4,
    currency=st.sampled_from(["USD", "JPY", "BHD", "EUR"]),
)
def test_amount_is_never_negative_and_is_the_exact_product_rounded_once(
    judgments, rate, multiplier, currency
):
    amount = pay.amount(judgments=judgments, rate=rate, multiplier=multiplier, currency=currency)
    places = {"USD": 2, "JPY": 0, "BHD": 3, "EUR": 2}[currency]
    exact = Fraction(judgments) * Fraction(rate) * Fraction(multiplier)

    assert amount >= 0
    assert Fraction(amount) == half_even(exact, places)


@given(low=accuracies, high=accuracies, tiers=tier_lists, judgments=st.integers(0, 10**5))
def test_pay_never_falls_as_accuracy_rises(low, high, tiers, judgments):
    low, high = sorted([low, high])
    tiers = monotone(tiers)
    rate = Decimal("0.0525")

    def paid(accuracy):
        factor = pay.multiplier(accuracy, tiers)
        return pay.amount(judgments=judgments, rate=rate, multiplier=factor, currency="USD")

    assert paid(low) <= paid(high)


@given(accuracy=accuracies, tiers=tier_lists.filter(bool))
def test_the_shown_accuracy_falls_in_the_same_tier_as_the_exact_one(accuracy, tiers):
    shown = pay.accuracy_shown(accuracy)

    assert shown <= accuracy < shown + Decimal("0.0001")
    assert pay.multiplier(Fraction(shown), tiers) == pay.multiplier(accuracy, tiers)


@given(
    judgments=st.integers(1, 500),
    rate=decimals4,
    multiplier=decimals4,
    currency=st.sampled_from(["USD", "JPY"]),
    cuts=st.lists(st.integers(1, 50), max_size=8),
)
def test_corrections_never_take_back_more_than_was_paid_and_net_to_zero(
    judgments, rate, multiplier, currency, cuts
):
    paid = pay.amount(judgments=judgments, rate=rate, multiplier=multiplier, currency=currency)
    booked, reversed_ = paid, 0
    for cut in [*cuts, judgments]:  # the last batch reverses whatever is left
        step = min(cut, judgments - reversed_)
        reversed_ += step
        correction = pay.correction_amount(
            judgments=judgments,
            reversed_judgments=reversed_,
            rate=rate,
            multiplier=multiplier,
            currency=currency,
            booked=booked,
        )
        assert correction <= 0
        booked += correction
        assert 0 <= booked <= paid

    assert booked == 0
