# Issue 16: execution priority (admission order and the priority start queue).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("executions_app", "0008_execution_items"),
    ]

    operations = [
        migrations.AddField(
            model_name="execution",
            name="priority",
            field=models.PositiveSmallIntegerField(db_default=5, default=5),
        ),
        migrations.RemoveIndex(
            model_name="execution",
            name="idx_executions_slots",
        ),
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(
                condition=models.Q(("concurrency_key__isnull", False), ("status__in", ["pending", "running", "paused"])),
                fields=["schema", "concurrency_key", "-priority", "created_at", "id"],
                name="idx_executions_slots_priority",
            ),
        ),
    ]
