"""The ledger is append-only, and the database says so: triggers refuse UPDATE and DELETE of
ledger entries on PostgreSQL and on SQLite, whatever code (or admin, or shell) tries them.
A correction is a new entry. (TRUNCATE is left alone: test databases are emptied with it.)"""

from django.db import migrations

TABLE = "billing_ledgerentry"

SQL = {
    "postgresql": (
        [
            "CREATE FUNCTION billing_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'ledger entries are append-only: % refused', TG_OP "
            "USING ERRCODE = 'integrity_constraint_violation'; END $$",
            f"CREATE TRIGGER billing_ledger_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only()",
        ],
        [
            f"DROP TRIGGER billing_ledger_append_only ON {TABLE}",
            "DROP FUNCTION billing_ledger_append_only()",
        ],
    ),
    "sqlite": (
        [
            f"CREATE TRIGGER billing_ledger_no_update BEFORE UPDATE ON {TABLE} "
            "BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: UPDATE refused'); END",
            f"CREATE TRIGGER billing_ledger_no_delete BEFORE DELETE ON {TABLE} "
            "BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: DELETE refused'); END",
        ],
        ["DROP TRIGGER billing_ledger_no_update", "DROP TRIGGER billing_ledger_no_delete"],
    ),
}


class RunSQLForVendor(migrations.RunSQL):
    """RunSQL with one script per database vendor (trigger syntax differs)."""

    def __init__(self, scripts):
        self.scripts = scripts
        super().__init__(sql=[], reverse_sql=[])

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._run_sql(schema_editor, self.scripts[schema_editor.connection.vendor][0])

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._run_sql(schema_editor, self.scripts[schema_editor.connection.vendor][1])


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [RunSQLForVendor(SQL)]
