from django.apps import AppConfig


class VariablesAppConfig(AppConfig):
    name = "variables_app"
    verbose_name = "Variables"
