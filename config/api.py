"""Shared plumbing for API views: paginated, filterable lists; JSON-only negotiation."""

from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import DefaultContentNegotiation


class ApiView(GenericAPIView):
    """An API class for one resource; lists go through django-filter, ordering and pagination."""

    def list_response(self, queryset, serializer_class):
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(serializer_class(page, many=True).data)


class JSONNegotiation(DefaultContentNegotiation):
    """For views that render only JSON and run on every judgment: a request that asks for JSON
    or for anything gets it without DRF's general parsing of `Accept`; any other request is
    negotiated as usual (and refused with 406 where JSON is not acceptable)."""

    _ANY = frozenset({None, "", "*/*", "application/json"})

    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            format_suffix is None
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
            and request.META.get("HTTP_ACCEPT") in self._ANY
        ):
            renderer = renderers[0]
            return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
