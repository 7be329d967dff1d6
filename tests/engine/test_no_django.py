"""The engine core imports no framework, broker or app: every module of the package, in a clean
interpreter. (The import-linter contracts in pyproject.toml check the same statically in `make lint`.)
Nor do the test helpers the engine tests share with the Django tests, so those run without a database.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import engine

OUTSIDE_THE_CORE = ("django", "rest_framework", "celery", "kombu", "amqp", "psycopg")
OUR_ADAPTERS = ("config", "accounts", "schemas_app", "executions_app", "api")


def engine_modules() -> list[str]:
    return ["engine", *(info.name for info in pkgutil.walk_packages(engine.__path__, prefix="engine."))]


def imported_outside_the_core(modules: list[str]) -> list[str]:
    """What importing `modules` in a clean interpreter loads of the frameworks and our adapters."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {OUTSIDE_THE_CORE + OUR_ADAPTERS!r})\n"
        "print(','.join(bad))\n"
    )
    root = Path(engine.__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    return [name for name in result.stdout.strip().split(",") if name]


def test_every_engine_module_imports_neither_frameworks_nor_our_apps() -> None:
    modules = engine_modules()
    assert {"engine.walker", "engine.nodes.http_request", "engine.http.transport"} <= set(modules)
    assert imported_outside_the_core(modules) == []


def test_the_helpers_of_the_engine_tests_import_no_django() -> None:
    assert imported_outside_the_core(["tests.builders", "tests.helpers.http_server", "tests.engine.helpers"]) == []
