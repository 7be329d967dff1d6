"""Settings for a developer's machine (`make run`): embedded defaults so nothing else is needed.

Without `DATABASE_URL` the app uses a SQLite file and without `RABBITMQ_URL` kombu's filesystem
transport (both under `var/`). Point both at PostgreSQL and RabbitMQ for anything serious:
SQLite and the filesystem broker have no delayed delivery, no dead-lettering and one writer.
"""

from pathlib import Path

from config.credential_keys import installation_key

from .base import *  # noqa: F403
from .base import BASE_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="") or "local-development-only-not-secret"
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "0.0.0.0"])  # noqa: S104
CSRF_TRUSTED_ORIGINS = env.list(
    "DJANGO_CSRF_TRUSTED_ORIGINS", default=["http://127.0.0.1:5173", "http://localhost:5173"]
)

# Static files (the admin's, Swagger UI's) come straight from the installed apps — no collectstatic
# on a developer's machine, so no `staticfiles/` and no whitenoise warning about it — and the
# editor's build is re-read on each request while it is rebuilt (base.py: production serves
# collected files, never re-scanned).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Embedded mode keeps its files together: the filesystem broker's folders sit beside the SQLite
# database (`var/`; a DATABASE_URL=sqlite:///… elsewhere takes them along, so two copies or a test
# never share a queue).
_sqlite = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"  # noqa: F405
_var_dir = Path(DATABASES["default"]["NAME"]).parent if _sqlite else BASE_DIR / "var"  # noqa: F405
_broker_dir = _var_dir / "broker"
# The filesystem transport ignores the host, but without one kombu warns "No hostname was supplied"
# each time it opens a connection (every delayed message).
RABBITMQ_URL = env("RABBITMQ_URL", default="filesystem://localhost//")
CELERY_BROKER_URL = RABBITMQ_URL
# One worker process with threads: less memory, and Ctrl-C (which reaches every process of `make
# run`) stops it without the prefork pool's "ForkPoolWorker-1 exited with signal 15" ERROR lines.
CELERY_WORKER_POOL = env("CELERY_WORKER_POOL", default="threads")
if RABBITMQ_URL.startswith("filesystem"):
    for sub in ("out", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        # The exchange → queue bindings (kombu's default is ./control, in whatever the cwd is).
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # kombu polls the folder once a second by default, so a due wake-up could wait 1 s more.
        "polling_interval": 0.1,
    }
(BASE_DIR / "var").mkdir(exist_ok=True)
# No key configured: this installation's own random key (config/credential_keys.py), kept beside the
# embedded database so a restart still opens the credentials stored before it.
SCHEMA_CREDENTIAL_KEYS = SCHEMA_CREDENTIAL_KEYS or [installation_key(_var_dir / "credential-key")]  # noqa: F405

# SQLite (embedded mode): the API, worker and beat write concurrently, so wait for locks instead
# of failing, and use WAL so readers do not block the writer.
if _sqlite:
    DATABASES["default"]["OPTIONS"] = {  # noqa: F405
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
