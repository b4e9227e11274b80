"""Server-side prepared statements for the few statements every worker request runs.

Django binds parameters on the client, so PostgreSQL parses and plans each statement anew;
for the worker loop's statements planning costs as much as running them, or several times
more. Prepared once per connection and run with `EXECUTE`, they are planned once. `EXECUTE`
is plain SQL, so several of them still fit in one simple query (one round trip). Sessions use
generic plans for them (`plan_cache_mode` in settings.py).
"""

import weakref

from django.db import connection

_prepared: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()


def prepared(name: str, types: str, sql: str) -> str:
    """Prepares `sql` (parameters `$1`, `$2`, ... of `types`) as `name` on the current
    PostgreSQL connection unless it already is; returns the name to `EXECUTE`."""
    connection.ensure_connection()
    done = _prepared.setdefault(connection.connection, set())
    if name not in done:
        with connection.cursor() as cursor:
            cursor.execute(f"PREPARE {name} ({types}) AS {sql}")
        done.add(name)
    return name


def fetch_prepared(name: str, types: str, sql: str, params: list, *, many: bool = False):
    """Runs a hot statement that returns rows: `sql` takes its parameters as `{}`, each once
    and in order. On PostgreSQL it is prepared once per connection (as `name`, parameters of
    `types`) and executed; elsewhere it runs as is. Returns the first row (None if none), or
    all of them with `many`."""
    with connection.cursor() as cursor:
        _execute_prepared(cursor, name, types, sql, params)
        return cursor.fetchall() if many else cursor.fetchone()


def execute_prepared(name: str, types: str, sql: str, params: list) -> None:
    """`fetch_prepared` for a statement that returns no rows."""
    with connection.cursor() as cursor:
        _execute_prepared(cursor, name, types, sql, params)


def other_transactions(*, started_before=None) -> list[tuple]:
    """Transactions open on this PostgreSQL database in other sessions, oldest first, those
    that began before `started_before` if given: (pid, state, start of its query, start of the
    transaction). Read afresh each time: inside a transaction, PostgreSQL keeps its first
    reading of the activity view unless told to drop it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid, state, left(query, 80), xact_start FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' "
            "AND xact_start < COALESCE(%s, 'infinity'::timestamptz) ORDER BY xact_start",
            [started_before],
        )
        return cursor.fetchall()


def statement_for(name: str, types: str, sql: str, count: int) -> str:
    """What runs `sql` (its `count` parameters as `{}`, each once and in order) on the current
    connection, taking them as `%s`: on PostgreSQL an `EXECUTE` of it, prepared once per
    connection as `name` with parameters of `types`; elsewhere `sql` itself. Being one
    statement of text, it can share a simple query (one round trip) with others."""
    if connection.vendor == "postgresql":
        placeholders = [f"${number}" for number in range(1, count + 1)]
        name = prepared(name, types, sql.format(*placeholders))
        return f"EXECUTE {name}({', '.join(['%s'] * count)})"
    return sql.format(*["%s"] * count)


def sql_list(values) -> str:
    """Constants of the code (statuses, never input) as an SQL list literal: `('a', 'b')`."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def _execute_prepared(cursor, name: str, types: str, sql: str, params: list) -> None:
    cursor.execute(statement_for(name, types, sql, len(params)), params)
