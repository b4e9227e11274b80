"""Serializer fields for money, shared by every app's API (SPEC §4.6: decimal strings)."""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config import money


@extend_schema_field(OpenApiTypes.DECIMAL)
class DecimalStringField(serializers.Field):
    """A non-negative decimal sent as a JSON string ("0.0525"); JSON floats are refused."""

    def to_internal_value(self, data):
        try:
            return money.decimal_parse(data, minimum=Decimal(0))
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None

    def to_representation(self, value):
        return str(value)


class CurrencyField(serializers.CharField):
    def to_internal_value(self, data):
        try:
            return money.currency_normalise(data)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None


class TiersField(serializers.JSONField):
    """Pay tiers `[{min_accuracy, multiplier}]` as decimal strings, highest tier first."""

    def to_internal_value(self, data):
        try:
            return money.tiers_normalise(data)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None
