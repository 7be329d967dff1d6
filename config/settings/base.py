"""Settings shared by every environment, read from the environment with django-environ.

Each variable is documented in `.env.example`. Environment-specific modules (`local`, `test`,
`production`) import everything from here and override what differs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from environ.fileaware_mapping import FileAwareMapping

from config.queues import (
    EXECUTION_QUEUE,
    EXECUTION_ROUTING_KEY,
    RUN_QUEUES,
    TASK_PRUNE_EXECUTIONS,
    TASK_RECONCILE,
    WAKE_UP_QUEUE,
    dead_letter_queue,
    execution_queue,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent


class _SecretFiles(FileAwareMapping):
    """`NAME_FILE=/path` supplies NAME from that file (a mounted secret, the chart's default: docs/
    operations.md "HTTPS and secrets"); the trailing newline an editor or `echo` leaves is dropped."""

    def __getitem__(self, key: str) -> str:
        value: str = super().__getitem__(key)
        return value.rstrip("\r\n") if self.env.get(key + "_FILE") else value


env = environ.FileAwareEnv()
env.ENVIRON = _SecretFiles()
environ.Env.read_env(str(BASE_DIR / ".env"), overwrite=False) if (BASE_DIR / ".env").exists() else None

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
PORT = env.int("PORT", default=8000)
# Public base URL used to build webhook URLs when the request is not available (e.g. in the admin).
PUBLIC_URL = env("SCHEMA_PUBLIC_URL", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_prometheus",
    "corsheaders",
    "accounts",
    "schemas_app",
    "credentials_app",
    "variables_app",
    "executions_app",
    "api",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "api.middleware.RequestLogMiddleware",
    # Answers /metrics (network/token gated) before host validation and the HTTPS redirect.
    "api.middleware.MetricsGateMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # 413 before anything reads an oversized body (also bounds chunked bodies).
    "api.middleware.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Django's session, auth and messages middlewares, skipped on webhooks and health probes.
    "api.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "api.middleware.AuthenticationMiddleware",
    "api.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-prometheus' per-view metrics, only those the dashboard and alerts read (see its docstring).
    "api.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "dist"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- Database ---------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True


def prepared_statements(database: dict[str, Any]) -> None:
    """The hot statements (executions_app/sql.py) are prepared on the server once per connection
    (psycopg's `prepare_threshold`; Django's own queries bind on the client and are never prepared).
    Behind PgBouncer in transaction mode before 1.21 set DB_PREPARED_STATEMENTS=false."""
    if database["ENGINE"] == "django.db.backends.postgresql":
        enabled = env.bool("DB_PREPARED_STATEMENTS", default=True)
        database.setdefault("OPTIONS", {})["prepare_threshold"] = 5 if enabled else None


prepared_statements(DATABASES["default"])


def dead_peer_detection(database: dict[str, Any]) -> None:
    """A peer that vanished without a FIN (partition, frozen VM) is noticed on both ends of the
    connection within about idle + interval x count seconds (TCP keepalives) or DB_TCP_USER_TIMEOUT_MS
    (unacknowledged data): the client side by libpq, the server side by the session's own settings
    sent in `options`; a session idle in a transaction longer than
    DB_IDLE_IN_TRANSACTION_TIMEOUT_MS is ended by PostgreSQL (its row locks with it). Takeover itself
    does not depend on them (executions_app/locks.py: the lease); docs/operations.md "Failure model".
    Behind a pooler that refuses startup `options` (PgBouncer without ignore_startup_parameters),
    set DB_SERVER_TIMEOUTS=false."""
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    idle, interval, count = (
        env.int("DB_KEEPALIVES_IDLE", default=10),
        env.int("DB_KEEPALIVES_INTERVAL", default=5),
        env.int("DB_KEEPALIVES_COUNT", default=3),
    )
    user_timeout = env.int("DB_TCP_USER_TIMEOUT_MS", default=30_000)
    options = database.setdefault("OPTIONS", {})
    options.update(
        keepalives=1,
        keepalives_idle=idle,
        keepalives_interval=interval,
        keepalives_count=count,
        tcp_user_timeout=user_timeout,
    )
    if env.bool("DB_SERVER_TIMEOUTS", default=True):
        server = (
            f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval={interval} -c tcp_keepalives_count={count}"
            f" -c tcp_user_timeout={user_timeout}"
            f" -c idle_in_transaction_session_timeout={env.int('DB_IDLE_IN_TRANSACTION_TIMEOUT_MS', default=60_000)}"
        )
        options["options"] = f"{options['options']} {server}" if options.get("options") else server


dead_peer_detection(DATABASES["default"])

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The editor's production build (frontend/dist) is served at "/" by whitenoise.
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
WHITENOISE_ROOT = FRONTEND_DIST if FRONTEND_DIST.exists() else None
# Collected files are scanned once at start-up; local.py re-scans on each request (the editor is
# rebuilt while `make run` serves it) and serves the apps' static files without collectstatic.
WHITENOISE_AUTOREFRESH = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Request bodies: webhooks and definitions are JSON; anything larger is refused with 413 by
# `api.middleware.BodySizeLimitMiddleware` (DRF reads the stream itself, so Django's own limit
# below only covers form posts such as the admin's).
SCHEMA_MAX_REQUEST_BYTES = env.int("SCHEMA_MAX_REQUEST_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = SCHEMA_MAX_REQUEST_BYTES

# /metrics (Prometheus scrapes the pod IP, which ALLOWED_HOSTS would reject): answered only to
# clients in these networks that did not come through a proxy (no X-Forwarded-For / Forwarded /
# X-Real-IP), and, when SCHEMA_METRICS_TOKEN is set, only with `Authorization: Bearer <token>`.
# Everyone else gets a 404. See docs/security.md.
SCHEMA_METRICS_ALLOWED_NETWORKS = env.list(
    "SCHEMA_METRICS_ALLOWED_NETWORKS",
    default=[
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ],
)
SCHEMA_METRICS_TOKEN = env("SCHEMA_METRICS_TOKEN", default="")
# Proxies in front of the API that append to X-Forwarded-For (the ingress): the client IP used
# by the per-IP rate limits is taken that many hops from the end. 0 = use the socket address
# (a client-sent X-Forwarded-For is then ignored and cannot dodge a limit).
SCHEMA_TRUSTED_PROXY_COUNT = env.int("SCHEMA_TRUSTED_PROXY_COUNT", default=0)
# Webhook `?wait=` requests that may hold a server thread at the same time, per API process.
SCHEMA_WEBHOOK_MAX_WAITING = env.int("SCHEMA_WEBHOOK_MAX_WAITING", default=2)

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous request gets 401 with `WWW-Authenticate: Token`.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Strict JSON: refuses NaN, NUL characters, lone surrogates and deep nesting with a 400.
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    # Counters shared by every API process, in PostgreSQL (api.throttling; table api_throttle).
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.UserRateThrottle",
        "api.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("SCHEMA_THROTTLE_USER", default="1200/min"),
        "anon": env("SCHEMA_THROTTLE_ANON", default="120/min"),
        "login": env("SCHEMA_THROTTLE_LOGIN", default="10/min"),
        "webhook": env("SCHEMA_THROTTLE_WEBHOOK", default="6000/min"),
        "webhook_ip": env("SCHEMA_THROTTLE_WEBHOOK_IP", default=env("SCHEMA_THROTTLE_WEBHOOK", default="6000/min")),
    },
    "NUM_PROXIES": SCHEMA_TRUSTED_PROXY_COUNT,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "Schema API",
    "DESCRIPTION": "Draw schemas (node graphs), run them durably, watch every step.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The OpenAPI document and Swagger UI are for signed-in users, like the rest of the API.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI's scripts and styles are static files of this app (drf-spectacular-sidecar), not a
    # CDN: /api/docs/ works offline and behind egress filters. No public validator badge either.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Every operation documents the error answers the framework around it can give (api/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.openapi.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "SchemaStatusEnum": "schemas_app.models.SchemaStatus",
        "ExecutionStatusEnum": "executions_app.models.ExecutionStatus",
        "StepStatusEnum": "executions_app.models.StepStatus",
        "CredentialTypeEnum": "credentials_app.models.TYPE_CHOICES",
        "CredentialTestMethodEnum": ["GET", "HEAD", "POST"],
    },
}

# Throttle counters must be shared by every API process: the database cache works with several
# gunicorn workers and needs no extra service (`manage.py createcachetable` runs in migrations).
CACHES = {
    "default": env.cache("CACHE_URL", default="dbcache://schema_cache"),
}

# CORS only for the editor's origin when it is served from another origin; only /api/ answers it.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_ALL_ORIGINS = False
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/api/.*$"

# --- Celery / RabbitMQ ------------------------------------------------------------------------
RABBITMQ_URL = env("RABBITMQ_URL", default="amqp://guest:guest@127.0.0.1:5672//")
CELERY_BROKER_URL = RABBITMQ_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
# AMQP heartbeats: RabbitMQ closes a silent worker's connection (and requeues its unacknowledged
# messages) after about two missed beats; the worker notices a dead broker as fast.
CELERY_BROKER_HEARTBEAT = env.int("AMQP_HEARTBEAT_SECONDS", default=10)
CELERY_TASK_QUEUES = RUN_QUEUES  # starts and wake-ups (config/queues.py); every worker consumes both
CELERY_TASK_DEFAULT_QUEUE = EXECUTION_QUEUE
CELERY_TASK_DEFAULT_EXCHANGE = execution_queue.exchange.name
CELERY_TASK_DEFAULT_EXCHANGE_TYPE = "topic"
CELERY_TASK_DEFAULT_ROUTING_KEY = EXECUTION_ROUTING_KEY
CELERY_TASK_CREATE_MISSING_QUEUES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Pool and concurrency unless given on the command line. prefork (Celery's default, one process per
# slot) isolates a crashing task to one child; threads (e.g. 8) runs the I/O-bound walks in one
# process: on the 2-core bench box the same throughput at half the memory (README "Performance").
CELERY_WORKER_POOL = env("CELERY_WORKER_POOL", default="prefork")
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=None)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Task events (task-sent/received/started/succeeded) are one extra broker publish each, consumed by
# nothing here (metrics come from the Prometheus endpoint): on only for an operator's Flower.
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_SEND_TASK_EVENTS", default=False)
CELERY_TASK_SEND_SENT_EVENT = CELERY_WORKER_SEND_TASK_EVENTS
# Celery's Django fix-up closes the worker's database connection before and after every task unless
# this is set (a new PostgreSQL backend per execution: a large share of the worker's CPU). The
# worker instead applies Django's own rules at each task boundary (config/celery_app.py:
# close_old_connections → CONN_MAX_AGE, health checks, close after errors); this is only the
# fix-up's backstop (it still closes every N tasks).
CELERY_DB_REUSE_MAX = 1000
# django-celery-beat's DatabaseScheduler, fenced by the beat lock and stamping each cron tick.
CELERY_BEAT_SCHEDULER = "config.beat_scheduler:FencedDatabaseScheduler"
CELERY_TIMEZONE = "UTC"
SCHEMA_DEAD_LETTER_QUEUE = dead_letter_queue.name

# --- Engine -----------------------------------------------------------------------------------
# How long a worker owns an execution without renewing it (it renews every third of this while
# walking) before another may take it over: the bound on takeover after a freeze or a partition.
SCHEMA_LEASE_SECONDS = env.int("SCHEMA_LEASE_SECONDS", default=30)
# How long the beat holding the beat lock may be silent (frozen, cut off) before a standby beat ends
# its session and takes over (config/beat_lock.py).
SCHEMA_BEAT_LOCK_SECONDS = env.int("SCHEMA_BEAT_LOCK_SECONDS", default=30)
# An execution left `pending` (or `running` with an expired lease) longer than this is re-published.
SCHEMA_RECONCILE_GRACE_SECONDS = env.int("SCHEMA_RECONCILE_GRACE_SECONDS", default=30)
SCHEMA_RECONCILE_INTERVAL_SECONDS = env.int("SCHEMA_RECONCILE_INTERVAL_SECONDS", default=15)
# The outbox relay (a thread of beat) publishes a new execution not taken by a worker after this many
# seconds while the start queue is empty (a lost publish of a process that is still alive).
SCHEMA_OUTBOX_DEADLINE_SECONDS = env.float("SCHEMA_OUTBOX_DEADLINE_SECONDS", default=2.0)
# A publish (write and publisher confirm) gives up after this long: a broker that stops reading (a
# cut network, a memory alarm) must not hold an API thread or a worker forever; the outbox relay and
# the reconciler publish what was given up.
SCHEMA_PUBLISH_TIMEOUT_SECONDS = env.float("SCHEMA_PUBLISH_TIMEOUT_SECONDS", default=5.0)
# Outbound HTTP from http_request nodes: hosts/networks allowed even if private (comma separated).
SCHEMA_HTTP_ALLOWLIST = env.list("SCHEMA_HTTP_ALLOWLIST", default=[])
# Side-effecting nodes of one execution's parallel branches that run at once (threads of the walk).
SCHEMA_BRANCH_CONCURRENCY = env.int("SCHEMA_BRANCH_CONCURRENCY", default=8)
# Sub-schemas (call_schema, for_each): how deep executions may nest, how many items a for_each takes.
SCHEMA_MAX_CALL_DEPTH = env.int("SCHEMA_MAX_CALL_DEPTH", default=10)
SCHEMA_MAX_ITEMS = env.int("SCHEMA_MAX_ITEMS", default=10_000)
SCHEMA_WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=9100)
# Keys that encrypt credentials (Fernet, comma separated, newest first: it encrypts, all decrypt).
# Production requires one; local and test settings generate one when empty (config/credential_keys.py).
SCHEMA_CREDENTIAL_KEYS = env.list("SCHEMA_CREDENTIAL_KEYS", default=[])
# Executions older than this many days are deleted by the nightly prune (0 disables).
SCHEMA_RETENTION_DAYS = env.int("SCHEMA_RETENTION_DAYS", default=30)

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO").upper()
# Celery's own line per task received and per task succeeded (loggers `celery.worker.strategy`,
# `celery.app.trace`) repeat the engine's "execution started" / "execution completed" lines, which
# carry the execution, schema and request ids and the walk's duration: two of the 15 lines of an
# 11-step execution, and the two costliest to format. Off by default (failures are still logged:
# ERROR); `CELERY_TASK_LOG_LEVEL=INFO` brings them back.
CELERY_TASK_LOG_LEVEL = env("CELERY_TASK_LOG_LEVEL", default="WARNING").upper()
_CELERY_TASK_LOGGERS_LEVEL = max(
    LOG_LEVEL, CELERY_TASK_LOG_LEVEL, key=lambda n: logging.getLevelNamesMapping().get(n, 0)
)
# JSON lines everywhere; `make run` sets `console` (config.logging.ConsoleFormatter) for a terminal.
LOG_FORMAT = env("LOG_FORMAT", default="json").lower()
if LOG_FORMAT not in ("json", "console"):
    raise ImproperlyConfigured(f"LOG_FORMAT is json or console, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "console": {"()": "config.logging.ConsoleFormatter"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "celery": {"level": LOG_LEVEL},
        "celery.worker.strategy": {"level": _CELERY_TASK_LOGGERS_LEVEL},
        "celery.app.trace": {"level": _CELERY_TASK_LOGGERS_LEVEL},
        # urllib3's DEBUG lines carry full request paths and query strings (tokens): never log them.
        "urllib3": {"level": "WARNING"},
    },
}

# Static beat entries (synced into django-celery-beat's tables); cron triggers of schemas are added
# per schema when it is activated.
CELERY_BEAT_SCHEDULE = {
    # On the wake-up queue: a backlog of new starts must not hold back the repairs.
    "schema-reconcile": {
        "task": TASK_RECONCILE,
        "schedule": float(SCHEMA_RECONCILE_INTERVAL_SECONDS),
        "options": {"queue": WAKE_UP_QUEUE},
    },
    "schema-prune-executions": {"task": TASK_PRUNE_EXECUTIONS, "schedule": 3600.0},
}
