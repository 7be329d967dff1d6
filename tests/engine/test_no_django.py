"""The engine core must not import Django or Celery (DESIGN.md): checked in a clean interpreter.

The core is listed explicitly; the broker/Django adapters living beside it in `engine/`
(`dispatch`, `queues`, `tasks`, `dlq`, `metrics`, …) are allowed to import them.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import engine.nodes

CORE = [
    "engine", "engine.errors", "engine.graph", "engine.expressions", "engine.retry", "engine.validation",
    "engine.store", "engine.walker", "engine.control", "engine.memory_store",
]  # fmt: skip


def core_modules() -> list[str]:
    node_modules = [info.name for info in pkgutil.walk_packages(engine.nodes.__path__, prefix="engine.nodes.")]
    return [*CORE, "engine.nodes", *node_modules]


def test_core_imports_neither_django_nor_celery() -> None:
    modules = core_modules()
    assert "engine.nodes.http_request" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery', 'kombu'))\n"
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
    assert result.stdout.strip() == ""
