"""Start-up objects frozen out of the garbage collector's way (config/gc_freeze.py), in the API's
gunicorn workers and in Celery workers; garbage made afterwards is still collected."""

from __future__ import annotations

import gc
import runpy
import weakref
from pathlib import Path
from typing import Any

import pytest
from celery.signals import worker_init

from config.gc_freeze import freeze_after_startup

BASE_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def unfrozen() -> Any:
    yield
    gc.unfreeze()  # the rest of the test session collects as before


def test_the_loaded_application_is_frozen_and_new_garbage_is_still_collected(unfrozen: None) -> None:
    freeze_after_startup(urls=True)
    assert gc.get_freeze_count() > 10_000  # Django, DRF, our modules, the URLconf

    class Node:
        other: Any = None

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the cyclic collector frees it
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None


def test_gunicorn_and_celery_workers_freeze_once_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unfrozen: None
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    conf = runpy.run_path(str(BASE_DIR / "config" / "gunicorn.py"))
    conf["post_worker_init"](None)  # gunicorn calls it once the worker has loaded the application
    assert gc.get_freeze_count() > 10_000
    gc.unfreeze()
    import config.celery_app  # noqa: F401 - connects the receivers

    [freeze] = [r[1]() for r in worker_init.receivers if getattr(r[1](), "__name__", "") == "_freeze_startup_objects"]
    freeze()
    assert gc.get_freeze_count() > 10_000


def test_a_gunicorn_worker_of_an_application_that_is_not_django_boots_and_freezes() -> None:
    """`make bench` runs its ceiling (a bare WSGI app, no Django set up) under config/gunicorn.py:
    the freeze after the worker loaded must not import our URLconf there (it failed to boot)."""
    import subprocess
    import sys

    code = (
        "from config.gc_freeze import freeze_after_startup\n"
        "import gc\n"
        "freeze_after_startup(urls=True)\n"
        "assert gc.get_freeze_count() > 0\n"
        "import sys; assert 'config.urls' not in sys.modules\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(BASE_DIR)}  # no DJANGO_SETTINGS_MODULE
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
