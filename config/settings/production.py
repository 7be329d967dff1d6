"""Production settings: everything secret comes from the environment, HTTPS everywhere.

Refuses to start without `DJANGO_SECRET_KEY`, `DATABASE_URL`, `RABBITMQ_URL`,
`SCHEMA_CREDENTIAL_KEYS` and `DJANGO_ALLOWED_HOSTS` (a `*` there is refused too); nothing here has a
secret default. Security settings are explained in docs/security.md; `manage.py check --deploy` is clean (`make lint`).
/metrics is answered before host validation only to private networks without proxy headers
(and a bearer token when SCHEMA_METRICS_TOKEN is set): see `api.middleware.MetricsGateMiddleware`.
"""

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK, env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the served host names ('*' is refused).")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
RABBITMQ_URL = env("RABBITMQ_URL")
SCHEMA_CREDENTIAL_KEYS = env.list("SCHEMA_CREDENTIAL_KEYS", default=[])
if not SCHEMA_CREDENTIAL_KEYS:
    raise ImproperlyConfigured(
        "SCHEMA_CREDENTIAL_KEYS must hold at least one key to encrypt credentials "
        "(make one with `python manage.py rotate_credential_keys --generate-key`)."
    )
for _position, _key in enumerate(SCHEMA_CREDENTIAL_KEYS, start=1):
    try:
        Fernet(_key.strip().encode())
    except ValueError:
        raise ImproperlyConfigured(
            f"SCHEMA_CREDENTIAL_KEYS entry {_position} is not a Fernet key (32 url-safe base64-encoded bytes)."
        ) from None
CELERY_BROKER_URL = RABBITMQ_URL

# TLS terminates at the ingress/load balancer, which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^api/health/", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# CORS: only the configured editor origin(s), never a wildcard, only https.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
if any(origin == "*" or not origin.startswith("https://") for origin in CORS_ALLOWED_ORIGINS):
    raise ImproperlyConfigured("CORS_ALLOWED_ORIGINS takes https:// origins of the editor, no wildcard.")

# Behind the ingress (TLS terminates there): one proxy appends the client address to
# X-Forwarded-For; the per-IP rate limits use that address. 0 if clients connect directly.
SCHEMA_TRUSTED_PROXY_COUNT = env.int("SCHEMA_TRUSTED_PROXY_COUNT", default=1)
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": SCHEMA_TRUSTED_PROXY_COUNT}
