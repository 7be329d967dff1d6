"""Dockerfiles: hadolint-clean, pinned bases, non-root, health-checked; .dockerignore present."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.helpers import REPO, run, tool

DOCKERFILES = sorted((REPO / "compose").rglob("Dockerfile"))


def test_the_expected_dockerfiles_exist() -> None:
    names = {str(p.relative_to(REPO)) for p in DOCKERFILES}
    assert {
        "compose/local/django/Dockerfile",
        "compose/production/django/Dockerfile",
        "compose/production/frontend/Dockerfile",
    } <= names
    assert (REPO / ".dockerignore").exists()


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_is_clean(dockerfile: Path) -> None:
    result = run(tool("hadolint"), "--no-color", str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_bases_are_pinned_and_the_user_is_not_root(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert bases
    for base in bases:
        assert base in {"python:3.11-slim-bookworm", "node:20-bookworm-slim", "nginx:1.27-alpine"}, base
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}


@pytest.mark.parametrize(
    "dockerfile", [p for p in DOCKERFILES if "production" in p.parts], ids=lambda p: str(p.relative_to(REPO))
)
def test_production_images_are_multi_stage_and_health_checked(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert len(re.findall(r"^FROM\s", text, re.M)) >= 2
    assert "HEALTHCHECK" in text


def test_production_commands_match_the_contract() -> None:
    start = (REPO / "compose/production/django/start").read_text()
    assert "exec gunicorn config.wsgi:application -c config/gunicorn.py" in start
    worker = (REPO / "compose/production/django/celery/worker/start").read_text()
    assert "exec celery -A config.celery_app worker -Q schema_execution_queue -l INFO" in worker
    beat = (REPO / "compose/production/django/celery/beat/start").read_text()
    # django-celery-beat's DatabaseScheduler, fenced by the beat lock (config/beat_scheduler.py).
    assert "--scheduler config.beat_scheduler:FencedDatabaseScheduler" in beat
    frontend = (REPO / "compose/production/frontend/Dockerfile").read_text()
    assert "npm ci" in frontend and "npm run build" in frontend and "/src/dist" in frontend


def test_nginx_writes_only_under_tmp() -> None:
    conf = (REPO / "compose/production/frontend/nginx.conf").read_text()
    for directive in ("pid", "client_body_temp_path", "proxy_temp_path"):
        assert re.search(rf"^\s*{directive}\s+/tmp/", conf, re.M), directive
    assert "listen 8080" in conf


def test_start_scripts_pass_shellcheck() -> None:
    scripts = sorted(str(p) for p in (REPO / "compose").rglob("*") if p.is_file() and p.read_text().startswith("#!"))
    result = run(tool("shellcheck"), *scripts)
    assert result.returncode == 0, result.stdout + result.stderr
