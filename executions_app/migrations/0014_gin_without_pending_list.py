# The search's GIN indexes (payload, result: 0010; error text: 0012) without GIN's pending list
# (`fastupdate = off`). With it, new entries wait in an unsorted list (up to gin_pending_list_limit,
# 4 MB: every execution inserted since the last vacuum, 100k at bench-scale) that every search reads
# whole: `?payload__order=1` took 20 ms in the index to find 2 rows, 2.1x its empty-DB time. Without
# it each insert puts its few entries in place: measured here +7 to +18 µs per execution insert for
# the two JSON indexes (20k single-row inserts, three runs in alternating order, load ~3), against
# ~7 ms of CPU per accepted webhook. The list already there is merged now (gin_clean_pending_list).
# PostgreSQL only; ALTER INDEX … SET takes a lock that does not block inserts or searches.

from django.db import migrations

INDEXES = ("idx_executions_payload_gin", "idx_executions_result_gin", "idx_executions_error_trgm")


def pending_list_off(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"ALTER INDEX IF EXISTS {name} SET (fastupdate = off)")
        schema_editor.execute(
            "SELECT gin_clean_pending_list(c.oid) FROM pg_class c WHERE c.relname = %s AND c.relkind = 'i'", [name]
        )


def pending_list_on(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"ALTER INDEX IF EXISTS {name} RESET (fastupdate)")


class Migration(migrations.Migration):
    atomic = False  # each statement commits on its own (the merge of a long list is not one transaction)

    dependencies = [
        ("executions_app", "0013_self_reference_indexes"),
    ]

    operations = [migrations.RunPython(pending_list_off, pending_list_on)]
