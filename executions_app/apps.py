from django.apps import AppConfig


class ExecutionsAppConfig(AppConfig):
    name = "executions_app"
    verbose_name = "Executions"

    def ready(self) -> None:
        # Registered in every process (API, worker, manage.py): dispatch publishes by task name.
        from . import tasks  # noqa: F401
