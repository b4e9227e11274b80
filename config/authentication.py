"""Token authentication: DRF's, with the user read by one constant statement, and for the
worker loop on PostgreSQL, in the round trip of the request's first statement.

Every worker request authenticates. Composing the ORM query cost more than running it, so the
user is read by a constant statement, prepared on PostgreSQL, its row made into a User
directly. On the two endpoints every judgment calls (claim and submit), a round trip of its
own for authentication was still a fifth of the loop's cost: there a `TokenCaller` stands in
for the user until the first statement, which sends the user's row along and identifies the
caller by token (`TokenCaller.user_id_sql`); see `config.api.AuthenticatedInFirstStatement`.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication as DRFTokenAuthentication
from rest_framework.authtoken.models import Token

from config.db import fetch_prepared, statement_for
from workforce.models import User

_COLUMNS = [field.attname for field in User._meta.concrete_fields]
USER = User._meta.db_table
TOKEN = Token._meta.db_table
# The token's user by primary key, the token found first by its key: written as a join, the
# generic plan of a prepared statement could scan every user and look the token up for each
# (seen while the user table was small and not yet analyzed).
_TOKEN_USER_ID = f"(SELECT t.user_id FROM {TOKEN} t WHERE t.key = {{}})"
# The user a token belongs to; its one parameter is the token's key.
USER_BY_TOKEN = (
    f"SELECT {', '.join(f'u.{column}' for column in _COLUMNS)} FROM {USER} u "
    f"WHERE u.id = {_TOKEN_USER_ID}"
)
USER_BY_TOKEN_NAME = "auth_token_user"  # its name as a prepared statement


class TokenAuthentication(DRFTokenAuthentication):
    def authenticate_credentials(self, key):
        if connection.vendor == "postgresql":
            return user_from_row(user_row(key)), key
        # SQLite returns booleans and times as stored: `raw()` applies the ORM's converters.
        user = next(iter(User.objects.raw(USER_BY_TOKEN.format("%s"), [key])), None)
        return checked(user), key


def user_row(key: str) -> tuple | None:
    """The row of USER_BY_TOKEN for a key, on PostgreSQL."""
    return fetch_prepared(USER_BY_TOKEN_NAME, "text", USER_BY_TOKEN, [key])


def user_from_row(row: tuple | None) -> User:
    """The user of a row of USER_BY_TOKEN on PostgreSQL (values come back as Python types
    there), if they may authenticate; else AuthenticationFailed (401)."""
    return checked(None if row is None else User.from_db(connection.alias, _COLUMNS, row))


def checked(user: User | None) -> User:
    if user is None:
        raise exceptions.AuthenticationFailed("Invalid token.")
    if not user.is_active:
        raise exceptions.AuthenticationFailed("User inactive or deleted.")
    return user


@dataclass(frozen=True)
class TokenCaller:
    """A caller known so far by the key of the token they sent (PostgreSQL only).

    A statement that acts for them sends `USER_BY_TOKEN` first, in the same round trip, and
    identifies them with `user_id_sql`: the token's user if active and of one of `roles` (the
    endpoint's permission), else NULL, so that it changes nothing for a caller who would have
    been refused. `authenticate(row)` then authenticates that row and checks the endpoint's
    permissions, raising 401 or 403 as DRF would have before the handler ran.
    """

    key: str
    roles: frozenset[str]
    authenticate: Callable[[tuple | None], User]

    def user_id_sql(self, placeholder: str) -> str:
        roles = ", ".join(f"'{role}'" for role in sorted(self.roles))
        return (
            f"(SELECT u.id FROM {USER} u WHERE u.id = {_TOKEN_USER_ID.format(placeholder)} "
            f"AND u.is_active AND u.role IN ({roles}))"
        )

    def user_statement(self) -> str:
        """The statement that reads the token's user row, to send first (its parameter: the
        key)."""
        return statement_for(USER_BY_TOKEN_NAME, "text", USER_BY_TOKEN, 1)

    def user(self) -> User:
        """Authenticates in a round trip of its own, for paths with no statement to join."""
        return self.authenticate(user_row(self.key))
