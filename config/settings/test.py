"""Settings for the test suite: PostgreSQL and RabbitMQ at DATABASE_URL / RABBITMQ_URL.

Defaults are the local services on 127.0.0.1. When one is unreachable the suite says so loudly and
falls back to SQLite / the in-memory broker (tests that need the real service are then skipped);
with CI=true a missing service is an error, never a silent fallback.
"""

import os
import socket
import sys
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

from config.credential_keys import per_run_key

from .base import *  # noqa: F403
from .base import BASE_DIR, env, prepared_statements

SECRET_KEY = "test-only-not-secret"  # noqa: S105 - tests only
DEBUG = False
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CI = env.bool("CI", default=False)
# A random credential key per run (unless one is given), shared with the processes the tests start.
SCHEMA_CREDENTIAL_KEYS = env.list("SCHEMA_CREDENTIAL_KEYS", default=[]) or [per_run_key()]

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/schema"
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def _fallback(service: str, url: str, replacement: str) -> None:
    message = f"{service} is not reachable at {url}"
    if CI:
        raise ImproperlyConfigured(f"{message} and CI=true: refusing to fall back to {replacement}.")
    if os.environ.get("SCHEMA_FALLBACK_WARNED") != "1":
        bar = "!" * 78
        print(
            f"\n{bar}\n!! {message}\n!! FALLING BACK TO {replacement}: tests that need it are SKIPPED.\n{bar}\n",
            file=sys.stderr,
        )


DATABASE_URL = env("DATABASE_URL", default=DEFAULT_DATABASE_URL)
USING_POSTGRES = DATABASE_URL.startswith(("postgres", "pgsql")) and _reachable(DATABASE_URL, 5432)
if USING_POSTGRES:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    prepared_statements(DATABASES["default"])
else:
    _fallback("PostgreSQL", DATABASE_URL, "SQLite")
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / "var" / "test.sqlite3")}}

RABBITMQ_URL = env("RABBITMQ_URL", default=DEFAULT_RABBITMQ_URL)
USING_RABBITMQ = RABBITMQ_URL.startswith("amqp") and _reachable(RABBITMQ_URL, 5672)
if not USING_RABBITMQ:
    _fallback("RabbitMQ", RABBITMQ_URL, "the in-memory broker")
    RABBITMQ_URL = "memory://"
CELERY_BROKER_URL = RABBITMQ_URL
os.environ["SCHEMA_FALLBACK_WARNED"] = "1"

# API-level tests run executions inline; system tests start real worker processes instead.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Throttles off: tests that need them enable them explicitly (tests/security/test_rate_limits.py);
# API processes that test starts get SCHEMA_TEST_THROTTLES=1 and the SCHEMA_THROTTLE_* rates.
if not env.bool("SCHEMA_TEST_THROTTLES", default=False):
    REST_FRAMEWORK = {
        **REST_FRAMEWORK,  # noqa: F405
        "DEFAULT_THROTTLE_RATES": {"user": None, "anon": None, "login": None, "webhook": None, "webhook_ip": None},
    }
LOG_LEVEL = env("LOG_LEVEL", default="WARNING").upper()
LOGGING["root"]["level"] = LOG_LEVEL  # noqa: F405
