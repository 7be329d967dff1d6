# Issue 16: execution search. GIN indexes (jsonb_path_ops: containment only, compact) on the trigger
# payload and the result for ?payload__<path>= / ?result__<path>= — PostgreSQL only (SQLite, the
# embedded `make run`, scans), built CONCURRENTLY so a deployment keeps taking executions meanwhile;
# and a partial index of failed steps by node for ?failed_node=.

from django.db import migrations, models

GIN = (
    ("idx_executions_payload_gin", "trigger_payload"),
    ("idx_executions_result_gin", "result"),
)


def create_gin(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in GIN:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON executions USING gin ({column} jsonb_path_ops)"
        )


def drop_gin(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in GIN:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("executions_app", "0009_execution_priority"),
    ]

    operations = [
        migrations.RunPython(create_gin, drop_gin),
        migrations.AddIndex(
            model_name="executionstep",
            index=models.Index(
                condition=models.Q(("status", "failed")),
                fields=["node_id", "execution"],
                name="idx_steps_failed_node",
            ),
        ),
    ]
