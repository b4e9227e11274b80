from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    """Names serializers nested in API classes after their API (`VendorRegisterApi.InputSerializer`
    → `VendorRegisterApiInput`), so the house style's many `InputSerializer`s never collide."""

    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        outer = type(serializer).__qualname__.split(".")[:-1]
        return "".join(outer) + name if outer else name
