"""Shared plumbing for API views: paginated, filterable lists; JSON-only negotiation;
authentication in the first statement."""

from django.db import connection
from rest_framework.exceptions import APIException
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import DefaultContentNegotiation

from config.authentication import TokenAuthentication, TokenCaller, user_from_row
from workforce.models import User


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


class _TokenKey(TokenAuthentication):
    """DRF's reading of the `Authorization: Token <key>` header, without the lookup."""

    def authenticate_credentials(self, key):
        return None, key


class AuthenticatedInFirstStatement(ApiView):
    """An endpoint that authenticates a token in the round trip of its first statement, on
    PostgreSQL (see config.authentication): the worker loop's claim and submit.

    For a request with a token, DRF's authentication and permission checks before the handler
    are left out; the handler acts for `self.caller(request)`, a TokenCaller, whose first
    statement authenticates it and checks the permissions exactly as DRF would have, before
    the handler uses anything else that statement returned. Whatever happens first — the
    handler fails before that statement, or answers without one — the caller is authenticated
    on its own before any answer leaves, so a refused caller only ever sees its 401 or 403.
    Requests without a token, and SQLite, go DRF's usual way. The permissions must be role
    permissions (`workforce.permissions.roles_allowed`): the statements check the roles too.
    """

    _caller: TokenCaller | None = None

    def perform_authentication(self, request):
        self._caller = self._token_caller(request)
        if self._caller is None:
            super().perform_authentication(request)

    def check_permissions(self, request):
        if self._caller is None:
            super().check_permissions(request)

    def caller(self, request) -> User | TokenCaller:
        return self._caller or request.user

    def handle_exception(self, exc):
        return super().handle_exception(self._refusal() or exc)

    def finalize_response(self, request, response, *args, **kwargs):
        refused = self._refusal()
        if refused is not None:
            response = super().handle_exception(refused)
        return super().finalize_response(request, response, *args, **kwargs)

    def _refusal(self) -> APIException | None:
        """For a caller not yet authenticated by a statement: authenticates them on their own
        and returns the 401 or 403 they get, if any."""
        if self._caller is None:
            return None
        try:
            self._caller.user()
        except APIException as refused:
            return refused
        return None

    def _token_caller(self, request) -> TokenCaller | None:
        if connection.vendor != "postgresql":
            return None
        found = _TokenKey().authenticate(request)
        if found is None:
            return None
        key = found[1]
        roles = frozenset.intersection(
            *(permission.roles for permission in self.permission_classes)
        )
        return TokenCaller(
            key=key, roles=roles, authenticate=lambda row: self._authenticate(key, row)
        )

    def _authenticate(self, key: str, row: tuple | None) -> User:
        self._caller = None  # decided, whether or not it passes
        user = user_from_row(row)
        self.request.user, self.request.auth = user, key
        self.check_permissions(self.request)
        return user
