"""`api_throttle` becomes an UNLOGGED table (PostgreSQL).

Every webhook and API call upserts its rate-limit counters here, and concurrent requests of one
schema update the same row: with a logged table each upsert's commit waited for a WAL flush while
holding that row, so the throttle serialized the webhooks at the disk's fsync rate (`make bench`,
`make bench-profile`). Counters of a one-minute window need no crash safety: a transaction that
writes only unlogged tables commits without waiting for the WAL, and after a PostgreSQL crash the
table is empty (every client starts a fresh window). Not replicated to standbys either — the
primary is where the API writes. SQLite (embedded mode) has no such thing: nothing to do.
"""

from django.db import migrations


def _alter(persistence: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE api_throttle SET {persistence}")

    return run


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]

    operations = [migrations.RunPython(_alter("UNLOGGED"), _alter("LOGGED"))]
