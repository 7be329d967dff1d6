"""Where prometheus_client's multiprocess mode keeps its files (no prometheus import here).

`PROMETHEUS_MULTIPROC_DIR` must be set before prometheus_client is first imported, so gunicorn's
config and the Celery worker call `ensure_multiprocess_dir` first thing.
"""

from __future__ import annotations

import os
import shutil
import tempfile


def ensure_multiprocess_dir(default_name: str) -> str:
    """Set PROMETHEUS_MULTIPROC_DIR (before prometheus_client is imported) if the deployment did not."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = os.path.join(tempfile.gettempdir(), f"schema-prometheus-{default_name}-{os.getpid()}")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    return path


def reset_multiprocess_dir() -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)
