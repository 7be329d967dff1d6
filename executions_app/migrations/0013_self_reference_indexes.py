# Retention deletes executions; each delete looks up the executions that point at the deleted one
# through the self-references `error_of` and `parent_execution` (ON DELETE SET NULL, checked at
# commit). Neither had an index it could use (the unique (parent_execution, parent_key) index is
# partial): `make bench-scale` pruned 500 executions in ~10 s at 100k rows instead of ~0.1 s.
# Partial indexes (only the rows that point somewhere: error-schema runs and sub-schema runs), built
# CONCURRENTLY on PostgreSQL so a deployment keeps taking executions meanwhile; plain on SQLite.

from django.db import migrations, models

INDEXES = (
    ("idx_executions_error_of", "error_of_id"),
    ("idx_executions_parent", "parent_execution_id"),
)


def create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON executions ({column}) WHERE {column} IS NOT NULL"
        )


def drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("executions_app", "0012_error_search"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop)],
            state_operations=[
                migrations.AddIndex(
                    model_name="execution",
                    index=models.Index(
                        condition=models.Q(("error_of__isnull", False)),
                        fields=["error_of"],
                        name="idx_executions_error_of",
                    ),
                ),
                migrations.AddIndex(
                    model_name="execution",
                    index=models.Index(
                        condition=models.Q(("parent_execution__isnull", False)),
                        fields=["parent_execution"],
                        name="idx_executions_parent",
                    ),
                ),
            ],
        ),
    ]
