"""Rate limits (spec §11): per user, per client IP, per e-mail on login, per webhook; 429 with
Retry-After in the API's error format; counters shared by every API process (PostgreSQL).

Test settings switch throttles off; each test here switches the ones it needs on. The last tests
start real gunicorn processes on the test database and show that the limit is one limit across
processes, exactly, even under concurrent load.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from api import throttling
from api.throttling import seconds_until_allowed
from tests.builders import linear_definition
from tests.conftest import requires_postgres
from tests.factories import UserFactory, create_schema
from tests.helpers.live_api import gunicorn_servers

pytestmark = pytest.mark.django_db(transaction=True)


def rates(**enabled: str) -> Any:
    """override_settings enabling only the given scopes (DRF reloads its settings on change)."""
    all_off = {"user": None, "anon": None, "login": None, "webhook": None, "webhook_ip": None}
    return override_settings(
        REST_FRAMEWORK={**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**all_off, **enabled}}
    )


def assert_throttled(response: Any) -> int:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["type"] == "throttled" and body["errors"] == []
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 3600
    return retry_after


def test_per_user_limit_with_retry_after(client_for: Callable[[Any], APIClient], user: Any, other_user: Any) -> None:
    with rates(user="5/min"):
        client = client_for(user)
        assert [client.get("/api/node-types/").status_code for _ in range(5)] == [200] * 5
        retry_after = assert_throttled(client.get("/api/schemas/"))
        # Sliding window: the full previous minute still weighs at the start of the next one.
        assert retry_after <= 2 * 60
        # Another user has their own budget.
        assert client_for(other_user).get("/api/node-types/").status_code == 200


def test_refused_requests_are_not_counted_and_the_window_slides(
    client_for: Callable[[Any], APIClient], user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1_000_000 * 60.0]  # the start of a window
    monkeypatch.setattr(throttling._SharedThrottle, "timer", staticmethod(lambda: now[0]))
    client = client_for(user)
    with rates(user="4/min"):
        assert [client.get("/api/node-types/").status_code for _ in range(4)] == [200] * 4
        for _ in range(10):  # hammering while throttled does not dig the hole deeper
            assert_throttled(client.get("/api/node-types/"))
        now[0] += 60 + 30  # half-way through the next window: 4 * 0.5 = 2 of the previous still count
        assert [client.get("/api/node-types/").status_code for _ in range(3)] == [200, 200, 429]
        now[0] += 90  # two windows later nothing of these requests is left
        assert [client.get("/api/node-types/").status_code for _ in range(5)] == [200, 200, 200, 200, 429]


def test_anonymous_limit_is_per_client_ip_and_ignores_forged_forwarded_for(anon_client: APIClient) -> None:
    body = {"email": "nobody@example.com", "password": "x"}
    with rates(anon="3/min"):
        codes = [
            anon_client.post(
                "/api/auth/login/", body, format="json", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"
            ).status_code
            for i in range(4)
        ]
        assert codes == [401, 401, 401, 429]  # a fresh X-Forwarded-For per request does not help
        other_ip = anon_client.post("/api/auth/login/", body, format="json", REMOTE_ADDR="203.0.113.8")
        assert other_ip.status_code == 401


def test_behind_a_trusted_proxy_the_forwarded_client_ip_counts(anon_client: APIClient) -> None:
    body = {"email": "nobody@example.com", "password": "x"}
    all_off = {"user": None, "login": None, "webhook": None, "webhook_ip": None}
    proxied = {
        **django_settings.REST_FRAMEWORK,
        "NUM_PROXIES": 1,  # SCHEMA_TRUSTED_PROXY_COUNT=1: one ingress appends to X-Forwarded-For
        "DEFAULT_THROTTLE_RATES": {**all_off, "anon": "2/min"},
    }

    def login(client_ip: str) -> int:
        return anon_client.post(
            "/api/auth/login/",
            body,
            format="json",
            REMOTE_ADDR="10.0.0.2",  # the ingress
            HTTP_X_FORWARDED_FOR=f"1.2.3.4, {client_ip}",  # a forged first entry; the ingress added the last
        ).status_code

    with override_settings(REST_FRAMEWORK=proxied):
        assert [login("198.51.100.1") for _ in range(3)] == [401, 401, 429]
        assert login("198.51.100.2") == 401  # another client behind the same ingress


def test_login_is_limited_per_email_across_ips(anon_client: APIClient, user: Any) -> None:
    with rates(login="3/min"):
        codes = [
            anon_client.post(
                "/api/auth/login/",
                {"email": user.email.upper(), "password": f"guess-{i}"},
                format="json",
                REMOTE_ADDR=f"198.51.100.{i}",
            ).status_code
            for i in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        # Even the right password waits: the account is what is protected.
        right = anon_client.post(
            "/api/auth/login/", {"email": user.email, "password": "s3cret-pass"}, format="json", REMOTE_ADDR="192.0.2.1"
        )
        assert_throttled(right)
        other = anon_client.post("/api/auth/login/", {"email": "x@example.com", "password": "x"}, format="json")
        assert other.status_code == 401


def test_webhook_limit_is_per_schema(anon_client: APIClient, user: Any) -> None:
    first = create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)
    second = create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)

    def deliver(schema: Any, ip: str = "192.0.2.10") -> int:
        return anon_client.post(
            f"/api/hooks/{schema.id}/",
            data=b"{}",
            content_type="application/json",
            HTTP_X_SCHEMA_SECRET=schema.webhook_secret,
            REMOTE_ADDR=ip,
        ).status_code

    with rates(webhook="3/min"):
        assert [deliver(first, f"192.0.2.{i}") for i in range(4)] == [202, 202, 202, 429]
        assert deliver(second) == 202


def test_webhook_limit_per_ip_stops_id_spraying(anon_client: APIClient) -> None:
    with rates(webhook="100/min", webhook_ip="3/min"):
        codes = [
            anon_client.post(f"/api/hooks/00000000-0000-4000-8000-00000000000{i}/", {}, format="json").status_code
            for i in range(4)
        ]
        assert codes == [404, 404, 404, 429]


def test_health_is_never_throttled(anon_client: APIClient) -> None:
    with rates(anon="1/min", user="1/min"):
        assert [anon_client.get("/api/health/live").status_code for _ in range(5)] == [200] * 5


@pytest.mark.parametrize(
    "count,previous,limit,elapsed,expected",
    [
        (4, 0, 5, 0.0, 0.0),  # one more fits now
        (5, 0, 5, 0.0, 60.0 + 60 * (1 - 4 / 5)),  # next window, once 20% of it has passed
        (5, 0, 5, 0.5, 30.0 + 12.0),
        (2, 10, 5, 0.0, 60 * (1 - 2 / 10)),  # the previous window must decay first
        (2, 10, 5, 0.9, 0.0),
    ],
)
def test_retry_after_arithmetic(count: int, previous: int, limit: int, elapsed: float, expected: float) -> None:
    now = 6000 * 60 + elapsed * 60
    assert seconds_until_allowed(count, previous, limit, 60, now) == pytest.approx(expected)


# -- shared across processes ---------------------------------------------------------------------


@pytest.fixture
def api_processes() -> Iterator[list[str]]:
    """Two gunicorn servers (2 workers each) on the test database, with throttles on."""
    with gunicorn_servers(
        2,
        threads=8,
        SCHEMA_TEST_THROTTLES="1",
        SCHEMA_THROTTLE_USER="25/min",
        SCHEMA_THROTTLE_ANON="1000/min",
        LOG_LEVEL="WARNING",
    ) as urls:
        yield urls


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if exc.code == 429:
            assert exc.headers["Retry-After"]
        return int(exc.code)


@requires_postgres
def test_limit_is_shared_by_separate_api_processes(api_processes: list[str]) -> None:
    token = Token.objects.create(user=UserFactory()).key
    first, second = api_processes
    # Aligned to a fresh window so the sliding part plays no role in this count.
    time.sleep(max(0.0, 60 - time.time() % 60 + 0.05) if time.time() % 60 > 45 else 0)
    codes = [_get(f"{first}/api/node-types/", token) for _ in range(15)]
    codes += [_get(f"{second}/api/node-types/", token) for _ in range(15)]
    assert codes == [200] * 25 + [429] * 5


@requires_postgres
def test_limit_is_exact_under_concurrent_load_across_processes(api_processes: list[str]) -> None:
    """80 requests at once, spread over 2 servers x 2 workers x 8 threads: exactly 25 get through
    (a read-modify-write counter, like DRF's cache throttle, lets more through under this race)."""
    token = Token.objects.create(user=UserFactory()).key
    time.sleep(max(0.0, 60 - time.time() % 60 + 0.05) if time.time() % 60 > 45 else 0)
    urls = [f"{api_processes[i % 2]}/api/node-types/" for i in range(80)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        codes = list(pool.map(lambda u: _get(u, token), urls))
    assert codes.count(200) == 25, codes
    assert codes.count(429) == 55
