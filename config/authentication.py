from django.db import connection
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication as DRFTokenAuthentication
from rest_framework.authtoken.models import Token

from config.db import prepared
from workforce.models import User

_COLUMNS = [field.attname for field in User._meta.concrete_fields]


class TokenAuthentication(DRFTokenAuthentication):
    """DRF's token authentication with the user read by one constant statement: every worker
    request passes here, and composing the ORM query cost more than running it. On PostgreSQL
    the statement is prepared and its row made into a User directly (values come back as
    Python types there; SQLite needs the ORM's converters, which `raw()` applies)."""

    _sql = (
        f"SELECT {', '.join(f'u.{column}' for column in _COLUMNS)} FROM {User._meta.db_table} u "
        f"JOIN {Token._meta.db_table} t ON t.user_id = u.id WHERE t.key = {{}}"
    )

    def authenticate_credentials(self, key):
        if connection.vendor == "postgresql":
            name = prepared("auth_token_user", "text", self._sql.format("$1"))
            with connection.cursor() as cursor:
                cursor.execute(f"EXECUTE {name}(%s)", [key])
                row = cursor.fetchone()
            user = None if row is None else User.from_db(connection.alias, _COLUMNS, row)
        else:
            user = next(iter(User.objects.raw(self._sql.format("%s"), [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return user, key
