from django.db import connection
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication as DRFTokenAuthentication
from rest_framework.authtoken.models import Token

from config.db import prepared
from workforce.models import User


class TokenAuthentication(DRFTokenAuthentication):
    """DRF's token authentication with the user read by one constant statement: every worker
    request passes here, and composing the ORM query cost more than running it."""

    _sql = (
        f"SELECT u.* FROM {User._meta.db_table} u "
        f"JOIN {Token._meta.db_table} t ON t.user_id = u.id WHERE t.key = {{}}"
    )

    def authenticate_credentials(self, key):
        if connection.vendor == "postgresql":
            sql = f"EXECUTE {prepared('auth_token_user', 'text', self._sql.format('$1'))}(%s)"
        else:
            sql = self._sql.format("%s")
        user = next(iter(User.objects.raw(sql, [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return user, key
