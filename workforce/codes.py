"""Validation of language, country and time-zone codes against maintained lists. Pure: no models.

Each `*_normalise` returns the canonical spelling or raises `ValueError` with a message that can
be shown to the user as is.
"""

import functools
import zoneinfo

import pycountry


def language_code_normalise(code: str) -> str:
    """A BCP 47 primary language subtag: ISO 639-1 where one exists, else ISO 639-3."""
    if not isinstance(code, str) or not code.isascii() or not code.isalpha():
        raise ValueError(f"'{code}' is not a language code.")
    lowered = code.lower()
    if len(lowered) == 2:
        if pycountry.languages.get(alpha_2=lowered) is None:
            raise ValueError(f"'{code}' is not an ISO 639-1 language code.")
        return lowered
    if len(lowered) == 3:
        language = pycountry.languages.get(alpha_3=lowered)
        if language is None:
            raise ValueError(f"'{code}' is not an ISO 639-3 language code.")
        two_letter = getattr(language, "alpha_2", None)
        if two_letter:
            raise ValueError(f"'{code}' has a two-letter code: use '{two_letter}'.")
        return lowered
    raise ValueError(f"'{code}' is not a language code (two or three letters).")


def country_code_normalise(code: str) -> str:
    """An ISO 3166-1 alpha-2 country code."""
    if not isinstance(code, str) or len(code) != 2 or not code.isascii() or not code.isalpha():
        raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-2 country code.")
    upper = code.upper()
    if pycountry.countries.get(alpha_2=upper) is None:
        raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-2 country code.")
    return upper


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_normalise(name: str) -> str:
    """An IANA time-zone name that zoneinfo can load."""
    if not isinstance(name, str) or name not in _time_zones():
        raise ValueError(f"'{name}' is not an IANA time zone.")
    return name
