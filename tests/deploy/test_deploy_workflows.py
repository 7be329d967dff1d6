"""GitHub Actions workflows: valid against the workflow schema, with the jobs the project needs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.helpers import REPO, run, tool

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def test_ci_and_release_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "release.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_workflows_schema(workflow: Path) -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow))
    assert result.returncode == 0, result.stdout + result.stderr


def _load(name: str) -> dict:
    loaded: dict = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    return loaded


def _steps_text(job: dict) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_ci_runs_lint_tests_frontend_e2e_and_helm() -> None:
    jobs = _load("ci.yml")["jobs"]
    assert "make lint" in _steps_text(jobs["lint"])
    backend = jobs["backend-tests"]
    assert backend["services"]["postgres"]["image"] == "postgres:16"
    assert backend["services"]["rabbitmq"]["image"] == "rabbitmq:3-management"
    assert {"DATABASE_URL", "RABBITMQ_URL"} <= set(backend["env"])
    assert "make test" in _steps_text(backend)  # make test-backend: the pytest part of make test
    assert "npm test" in _steps_text(jobs["frontend-unit"])
    e2e = _steps_text(jobs["frontend-e2e"])
    assert "apt-get install" in e2e and "chromium" in e2e and "make e2e" in e2e  # runs npm run e2e
    assert "helm lint" in _steps_text(jobs["helm"])


def test_release_builds_on_tags_and_deploys_behind_the_production_environment() -> None:
    release = _load("release.yml")
    # PyYAML reads the bare key `on` as True.
    trigger = release.get("on", release.get(True))
    assert trigger["push"]["tags"] == ["v*"]
    jobs = release["jobs"]
    assert "docker/build-push-action" in _steps_text(jobs["images"])
    deploy = jobs["deploy"]
    assert deploy["needs"] == "images"
    environment = deploy["environment"]
    assert (environment["name"] if isinstance(environment, dict) else environment) == "production"
    assert "helm upgrade --install" in _steps_text(deploy)


def test_release_deploys_the_images_by_digest() -> None:
    deploy = _load("release.yml")["jobs"]["deploy"]
    text = _steps_text(deploy)
    assert "docker buildx imagetools inspect" in text and "{{ .Manifest.Digest }}" in text
    assert '--set image.digest="${{ steps.digests.outputs.backend }}"' in text
    assert '--set frontend.image.digest="${{ steps.digests.outputs.frontend }}"' in text
