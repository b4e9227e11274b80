"""Money primitives shared by every app: exact decimals, ISO 4217 currencies, one rounding rule.

Pure: no models. Amounts are `Decimal`, never float; rounding happens once, at the end, half-even
at the currency's minor unit (SPEC §4.6).
"""

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import iso4217

RATE_PLACES = 4
MAX_DIGITS = 14
# Caps that keep any line's amount, n x rate x multiplier, far inside billing's amount columns
# (20 digits, 4 places: below 10^16) for any realistic n: at most 10^8 per judgment, so a line
# overflows only past 10^8 judgments. Without them one absurd project made a whole payroll
# run fail with a numeric overflow.
MAX_RATE = Decimal(1_000_000)
MAX_MULTIPLIER = Decimal(100)


def currency_normalise(code) -> str:
    """An ISO 4217 code with a minor unit (so not XAU and friends); raises ValueError."""
    if not isinstance(code, str):
        raise ValueError("currency must be an ISO 4217 code such as 'USD'.")
    try:
        currency = iso4217.Currency(code.upper())
    except ValueError:
        raise ValueError(f"'{code}' is not an ISO 4217 currency code.") from None
    if currency.exponent is None:
        raise ValueError(f"'{code}' has no minor unit and cannot be used for pay.")
    return currency.code


def currency_minor_unit(code: str) -> int:
    return iso4217.Currency(code).exponent


def decimal_parse(value, *, places: int = RATE_PLACES, minimum: Decimal | None = None) -> Decimal:
    """A decimal from a JSON string ("0.0525") or integer; floats are refused, they are inexact."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError('must be a decimal string such as "0.0525", not a JSON number.')
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"'{value}' is not a decimal number.") from None
    if not number.is_finite():
        raise ValueError(f"'{value}' is not a finite number.")
    if number.as_tuple().exponent < -places:
        raise ValueError(f"'{value}' has more than {places} decimal places.")
    if number.adjusted() >= MAX_DIGITS - places:
        raise ValueError(f"'{value}' is too large.")
    if minimum is not None and number < minimum:
        raise ValueError(f"'{value}' is below {minimum}.")
    # "1e3" → 1000: amounts are written out in plain notation wherever they are shown.
    return number if number.as_tuple().exponent <= 0 else number.quantize(Decimal(1))


def money_round(amount: Decimal, currency: str) -> Decimal:
    """Rounds half-even to the currency's minor unit: the only place amounts are rounded."""
    return amount.quantize(Decimal(1).scaleb(-currency_minor_unit(currency)), ROUND_HALF_EVEN)


def money_str(amount: Decimal, currency: str) -> str:
    """An amount as shown: at its currency's minor unit ("12.30", JPY "1230", BHD "0.014"),
    and never "-0.00" (adding 0 drops the sign of a negative zero)."""
    return str(money_round(amount, currency) + 0)


def tiers_normalise(tiers) -> list[dict[str, str]]:
    """Pay tiers `[{min_accuracy, multiplier}]`: distinct min_accuracy in [0, 1], multiplier in
    [0, MAX_MULTIPLIER].

    Returns them sorted by min_accuracy, highest first, as decimal strings. Raises ValueError.
    """
    if not isinstance(tiers, list):
        raise ValueError("tiers must be a list of {min_accuracy, multiplier}.")
    normalised = []
    for index, tier in enumerate(tiers):
        if not isinstance(tier, dict) or set(tier) != {"min_accuracy", "multiplier"}:
            raise ValueError(f"tier {index} must be exactly {{min_accuracy, multiplier}}.")
        try:
            accuracy = decimal_parse(tier["min_accuracy"], minimum=Decimal(0))
            multiplier = decimal_parse(tier["multiplier"], minimum=Decimal(0))
        except ValueError as error:
            raise ValueError(f"tier {index}: {error}") from None
        if accuracy > 1:
            raise ValueError(f"tier {index}: min_accuracy must be between 0 and 1.")
        if multiplier > MAX_MULTIPLIER:
            raise ValueError(f"tier {index}: multiplier must be at most {MAX_MULTIPLIER}.")
        normalised.append((accuracy, multiplier))
    accuracies = [accuracy for accuracy, _ in normalised]
    if len(set(accuracies)) != len(accuracies):
        raise ValueError("tiers must have distinct min_accuracy values.")
    return [
        {"min_accuracy": str(accuracy), "multiplier": str(multiplier)}
        for accuracy, multiplier in sorted(normalised, reverse=True)
    ]
