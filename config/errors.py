"""One error type for services, one renderer for the API.

Services raise `DomainError` subclasses (they never import DRF); `api_exception_handler` renders
every error as `{"detail", "code"}`, or per field for validation errors, and rolls the
transaction back so that a refused request changes nothing.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler, set_rollback


class DomainError(Exception):
    code = "error"
    http_status = status.HTTP_400_BAD_REQUEST
    default_detail = "The request could not be completed."

    def __init__(self, detail: str | None = None, *, code: str | None = None):
        self.detail = detail or self.default_detail
        if code is not None:
            self.code = code
        super().__init__(self.detail)


class NotFoundError(DomainError):
    code = "not_found"
    http_status = status.HTTP_404_NOT_FOUND
    default_detail = "Not found."


class ForbiddenError(DomainError):
    code = "permission_denied"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "You do not have permission to perform this action."


class ConflictError(DomainError):
    code = "conflict"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The object is not in a state that allows this."


class InvalidInputError(DomainError):
    """Bad input found by a service; `fields` renders like a serializer's per-field errors."""

    code = "invalid"
    http_status = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail: str | None = None, *, fields=None, code: str | None = None):
        self.fields = fields
        super().__init__(detail, code=code)


class _DomainAPIException(exceptions.APIException):
    def __init__(self, error: DomainError):
        self.status_code = error.http_status
        super().__init__(detail=error.detail, code=error.code)


def _to_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, InvalidInputError) and exc.fields is not None:
        return exceptions.ValidationError(exc.fields, code=exc.code)
    if isinstance(exc, DomainError):
        return _DomainAPIException(exc)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return exceptions.ValidationError(detail)
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def _is_flat_messages(data) -> bool:
    return isinstance(data, list) and all(isinstance(item, str) for item in data)


def api_exception_handler(exc, context):
    exc = _to_api_exception(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None
    set_rollback()
    if isinstance(exc, exceptions.ValidationError):
        if _is_flat_messages(response.data):
            codes = exc.get_codes()
            response.data = {
                "detail": " ".join(response.data),
                "code": codes[0] if isinstance(codes, list) and codes else "invalid",
            }
        return response
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    response.data = {
        "detail": str(response.data.get("detail", "")),
        "code": codes if isinstance(codes, str) else "error",
    }
    return response
