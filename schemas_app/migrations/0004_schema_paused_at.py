# Issue 16: pausing a whole schema (executions_app/pausing.py).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("schemas_app", "0003_credential_references"),
    ]

    operations = [
        migrations.AddField(
            model_name="schema",
            name="paused_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
