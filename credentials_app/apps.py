from django.apps import AppConfig


class CredentialsAppConfig(AppConfig):
    name = "credentials_app"
    verbose_name = "Credentials"
