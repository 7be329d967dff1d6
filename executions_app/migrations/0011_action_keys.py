# Issue 19: the Idempotency-Key of resume and retry (actions that start no execution to carry it).

import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("executions_app", "0010_execution_search"),
    ]

    operations = [
        migrations.CreateModel(
            name="ExecutionActionKey",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("key", models.CharField(max_length=255, unique=True)),
                ("request_sha256", models.CharField(max_length=64)),
                (
                    "created_at",
                    models.DateTimeField(auto_now_add=True, db_default=django.db.models.functions.datetime.Now()),
                ),
                (
                    "execution",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="action_keys",
                        to="executions_app.execution",
                    ),
                ),
            ],
            options={
                "db_table": "execution_action_keys",
            },
        ),
    ]
