"""Serializer fields for workforce codes, shared by every app's API."""

from collections import Counter

from rest_framework import serializers

from workforce import codes


def _code_field(normalise):
    """A serializer field whose value must pass one of the `workforce.codes` normalisers."""

    class CodeField(serializers.CharField):
        def to_internal_value(self, data):
            try:
                return normalise(super().to_internal_value(data))
            except ValueError as error:
                raise serializers.ValidationError(str(error)) from None

    return CodeField


LanguageCodeField = _code_field(codes.language_code_normalise)
CountryField = _code_field(codes.country_code_normalise)
TimezoneField = _code_field(codes.timezone_normalise)


def unique_list(values, what: str):
    repeated = sorted({value for value, count in Counter(values).items() if count > 1})
    if repeated:
        raise serializers.ValidationError(f"{what} listed more than once: {', '.join(repeated)}.")
