"""WSGI entry point (gunicorn `config.wsgi:application`)."""

import os

from django.core.wsgi import get_wsgi_application

from config.tracing import setup_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
setup_tracing("schema-api")  # only with OTEL_EXPORTER_OTLP_ENDPOINT; before Django loads its middleware

application = get_wsgi_application()
