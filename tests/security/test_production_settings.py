"""Production settings and the /metrics gate.

Production behaviour is checked in a subprocess that loads `config.settings.production` with
environment variables, like a pod does: HTTPS redirect, HSTS, secure cookies, allowed hosts, CORS
for the configured origin only, secrets only from the environment, `check --deploy` clean, and
Prometheus scraping the pod IP while /metrics stays closed to everyone else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.test import Client, override_settings

BASE_DIR = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "test-" + "k3y" * 20,
    "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
    "RABBITMQ_URL": "amqp://nobody@127.0.0.1:1//",
    "DJANGO_ALLOWED_HOSTS": "schema.example.com",
    "CORS_ALLOWED_ORIGINS": "https://editor.example.com",
    "SCHEMA_CREDENTIAL_KEYS": Fernet.generate_key().decode(),
}
PROBE = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    from django.conf import settings
    from django.test import Client
    out = {"settings": {name: getattr(settings, name) for name in sys.argv[1].split(",") if name}}
    for label, method, path, extra in json.loads(sys.argv[2]):
        response = getattr(Client(), method)(path, **extra)
        out[label] = {"status": response.status_code, "headers": {k.lower(): v for k, v in response.headers.items()},
                      "cookies": {k: dict(v) for k, v in response.cookies.items()},
                      "body": response.content[:200].decode(errors="replace")}
    print(json.dumps(out, default=str))
    """
)


def run_production(
    requests: list[tuple[str, str, str, dict[str, Any]]], settings: str = "", **env: str
) -> dict[str, Any]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SCHEMA_", "CORS_"))}
    environment.update(PROD_ENV)
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, settings, json.dumps(requests)],
        cwd=BASE_DIR,
        env={k: v for k, v in environment.items() if v is not None and v != "<unset>"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        return {"error": result.stderr}
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


HTTPS = {"HTTP_HOST": "schema.example.com", "HTTP_X_FORWARDED_PROTO": "https"}


def test_https_redirect_hsts_and_secure_cookies() -> None:
    out = run_production(
        [
            ("plain_http", "get", "/api/schemas/", {"HTTP_HOST": "schema.example.com"}),
            ("https", "get", "/api/health/live", HTTPS),
            ("csrf_cookie", "get", "/api/auth/csrf/", HTTPS),
            ("health_over_http", "get", "/api/health/live", {"HTTP_HOST": "schema.example.com"}),
        ],
        settings="SECURE_SSL_REDIRECT,SECURE_HSTS_SECONDS,SESSION_COOKIE_SECURE,CSRF_COOKIE_SECURE,DEBUG",
    )
    assert "error" not in out, out
    assert out["settings"] == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "DEBUG": False,
    }
    assert out["plain_http"]["status"] == 301
    assert out["plain_http"]["headers"]["location"] == "https://schema.example.com/api/schemas/"
    hsts = out["https"]["headers"]["strict-transport-security"]
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    assert out["https"]["headers"]["x-content-type-options"] == "nosniff"
    assert out["https"]["headers"]["x-frame-options"] == "DENY"
    assert out["https"]["headers"]["referrer-policy"] == "same-origin"
    cookie = out["csrf_cookie"]["cookies"]["csrftoken"]
    assert cookie["secure"] is True and cookie["samesite"] == "Lax"
    assert out["health_over_http"]["status"] == 200  # probes speak plain HTTP to the pod


def test_unknown_hosts_are_refused() -> None:
    out = run_production([("evil", "get", "/api/health/live", {**HTTPS, "HTTP_HOST": "evil.example.net"})])
    assert out["evil"]["status"] == 400


@pytest.mark.parametrize(
    "env,message",
    [
        ({"DJANGO_SECRET_KEY": "<unset>"}, "DJANGO_SECRET_KEY"),
        ({"DATABASE_URL": "<unset>"}, "DATABASE_URL"),
        ({"RABBITMQ_URL": "<unset>"}, "RABBITMQ_URL"),
        ({"DJANGO_ALLOWED_HOSTS": "<unset>"}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "'*' is refused"),
        ({"CORS_ALLOWED_ORIGINS": "*"}, "no wildcard"),
        ({"CORS_ALLOWED_ORIGINS": "http://editor.example.com"}, "https://"),
        ({"SCHEMA_CREDENTIAL_KEYS": "<unset>"}, "SCHEMA_CREDENTIAL_KEYS must hold at least one key"),
        (
            {"SCHEMA_CREDENTIAL_KEYS": Fernet.generate_key().decode() + ",short"},
            "entry 2 is not a Fernet key",
        ),
    ],
)
def test_refuses_to_start_without_secrets_or_with_wildcards(env: dict[str, str], message: str) -> None:
    out = run_production([], **env)
    assert "error" in out and message in out["error"], out


def test_cors_answers_only_the_configured_origin() -> None:
    preflight = {
        **HTTPS,
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "content-type,x-csrftoken",
    }
    out = run_production(
        [
            ("editor", "options", "/api/schemas/", {**preflight, "HTTP_ORIGIN": "https://editor.example.com"}),
            ("evil", "options", "/api/schemas/", {**preflight, "HTTP_ORIGIN": "https://evil.example.net"}),
            ("evil_get", "get", "/api/health/live", {**HTTPS, "HTTP_ORIGIN": "https://evil.example.net"}),
            ("admin", "options", "/admin/", {**preflight, "HTTP_ORIGIN": "https://editor.example.com"}),
        ]
    )
    editor = out["editor"]["headers"]
    assert editor["access-control-allow-origin"] == "https://editor.example.com"
    assert editor["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in out["evil"]["headers"]
    assert "access-control-allow-origin" not in out["evil_get"]["headers"]
    assert "access-control-allow-origin" not in out["admin"]["headers"]  # CORS is for /api/ only


def test_check_deploy_is_clean() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SCHEMA_", "CORS_"))}
    environment.update(PROD_ENV)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# -- /metrics ------------------------------------------------------------------------------------

POD = {"REMOTE_ADDR": "10.42.1.7", "HTTP_HOST": "10.42.1.7:8000"}  # Prometheus scraping the pod IP


def test_metrics_for_prometheus_on_the_pod_ip_but_not_through_the_ingress() -> None:
    out = run_production(
        [
            ("scrape", "get", "/metrics", POD),
            ("public", "get", "/metrics", {"REMOTE_ADDR": "203.0.113.9", "HTTP_HOST": "schema.example.com"}),
            # Through the ingress: the socket peer is the (private) ingress pod, but it forwards.
            ("proxied", "get", "/metrics", {**POD, "HTTP_X_FORWARDED_FOR": "203.0.113.9", **HTTPS}),
            ("forwarded", "get", "/metrics", {**POD, "HTTP_FORWARDED": "for=203.0.113.9"}),
            ("other_path_on_pod_ip", "get", "/api/health/ready", POD),
        ]
    )
    assert out["scrape"]["status"] == 200 and "# HELP" in out["scrape"]["body"]
    for label in ("public", "proxied", "forwarded"):
        assert out[label]["status"] == 404, (label, out[label])
        assert json.loads(out[label]["body"])["type"] == "not_found"
    # Only /metrics skips host validation; everything else on the pod IP is still refused.
    assert out["other_path_on_pod_ip"]["status"] in (301, 400)


def test_metrics_token() -> None:
    token = "scrape-" + "t0k" * 10
    out = run_production(
        [
            ("no_token", "get", "/metrics", POD),
            ("wrong", "get", "/metrics", {**POD, "HTTP_AUTHORIZATION": "Bearer nope"}),
            ("right", "get", "/metrics", {**POD, "HTTP_AUTHORIZATION": f"Bearer {token}"}),
            (
                "right_but_public",
                "get",
                "/metrics",
                {"REMOTE_ADDR": "203.0.113.9", "HTTP_HOST": "x", "HTTP_AUTHORIZATION": f"Bearer {token}"},
            ),
        ],
        SCHEMA_METRICS_TOKEN=token,
    )
    assert [out[k]["status"] for k in ("no_token", "wrong", "right", "right_but_public")] == [404, 404, 200, 404]


def test_metrics_networks_are_configurable() -> None:
    out = run_production(
        [("scrape", "get", "/metrics", POD), ("allowed", "get", "/metrics", {**POD, "REMOTE_ADDR": "192.0.2.5"})],
        SCHEMA_METRICS_ALLOWED_NETWORKS="192.0.2.0/24",
    )
    assert out["scrape"]["status"] == 404 and out["allowed"]["status"] == 200


@pytest.mark.django_db
def test_metrics_gate_in_process(settings: Any) -> None:
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::ffff:10.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="8.8.8.8").get("/metrics").status_code == 404
    assert Client(REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="8.8.8.8").get("/metrics").status_code == 404
    assert Client(REMOTE_ADDR="not-an-ip").get("/metrics").status_code == 404
    with override_settings(SCHEMA_METRICS_TOKEN="tkn"):
        assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 404
        assert Client(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer tkn").get("/metrics").status_code == 200


@pytest.mark.django_db
def test_metrics_have_the_per_view_http_series_and_not_the_dropped_ones() -> None:
    client = Client(REMOTE_ADDR="127.0.0.1")
    assert client.get("/api/health/live").status_code == 200
    body = client.get("/metrics").content.decode()
    samples = [line for line in body.splitlines() if not line.startswith("#")]

    def has(prefix: str, *labels: str) -> bool:
        return any(line.startswith(prefix) and all(label in line for label in labels) for line in samples)

    assert has("django_http_requests_total_by_view_transport_method_total", 'view="health-live"', 'method="GET"')
    assert has("django_http_requests_latency_seconds_by_view_method_bucket", 'view="health-live"')
    assert has("django_http_responses_total_by_status_total", 'status="200"')
    assert has("django_http_responses_total_by_status_view_method_total", 'view="health-live"')
    # Left out on purpose (api.middleware.PrometheusAfterMiddleware): never recorded.
    assert not has("django_http_requests_total_by_method_total", 'method="GET"')
    body_sizes = [line for line in samples if line.startswith("django_http_responses_body_total_bytes_count")]
    assert all(float(line.rsplit(" ", 1)[1]) == 0 for line in body_sizes)
