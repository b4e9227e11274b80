"""Shared plumbing for API views: paginated, filterable lists."""

from rest_framework.generics import GenericAPIView


class ApiView(GenericAPIView):
    """An API class for one resource; lists go through django-filter, ordering and pagination."""

    def list_response(self, queryset, serializer_class):
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(serializer_class(page, many=True).data)
