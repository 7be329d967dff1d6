"""Swagger UI (`/api/docs/`) works on a machine without internet: the page and everything it loads
come from this server (drf-spectacular-sidecar's static files) — with `make run`'s local settings
and from collected static files in production — and a signed-out browser is sent to sign in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from accounts.models import User

pytestmark = pytest.mark.django_db

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _signed_in() -> Client:
    client = Client()
    client.force_login(User.objects.create_user("docs-reader@example.com", "pw-docs-reader"))
    return client


def _docs_page(client: Client) -> str:
    response = client.get("/api/docs/", headers=BROWSER)
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def _referenced(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


def test_the_docs_page_loads_nothing_from_another_host() -> None:
    html = _docs_page(_signed_in())
    refs = _referenced(html)
    assert refs, html[:500]
    for ref in refs:
        assert not re.match(r"^(https?:)?//", ref), f"the docs page loads {ref} from another host"
    # Anything absolute in the page itself (inline script, styles) is ours or nothing.
    assert not re.search(r"https?://(?!testserver)", html), re.findall(r"https?://[^\s\"']+", html)
    # Swagger UI would otherwise send the document's address to its public validator for a badge.
    assert '"validatorUrl": null' in html


def _assert_assets_served(client: Client) -> None:
    refs = [ref for ref in _referenced(_docs_page(client)) if ref.startswith("/")]
    assert any(ref.endswith("swagger-ui-bundle.js") for ref in refs), refs
    for ref in refs:
        response = Client().get(ref)  # static files need no session
        assert response.status_code == 200, ref
        body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
        assert len(body) > 0, ref


def test_assets_are_served_in_local_mode() -> None:
    """`make run` (config.settings.local): straight from the installed apps, no collectstatic."""
    from config.settings import local

    with override_settings(
        DEBUG=True,
        WHITENOISE_USE_FINDERS=local.WHITENOISE_USE_FINDERS,
        WHITENOISE_AUTOREFRESH=local.WHITENOISE_AUTOREFRESH,
    ):
        _assert_assets_served(_signed_in())


def test_assets_are_served_from_collected_static_files_in_production(tmp_path: Path) -> None:
    """The production image runs collectstatic at build time; whitenoise serves STATIC_ROOT."""
    with override_settings(STATIC_ROOT=tmp_path / "staticfiles"):
        call_command("collectstatic", interactive=False, verbosity=0)
        with override_settings(DEBUG=False, WHITENOISE_USE_FINDERS=False, WHITENOISE_AUTOREFRESH=False):
            _assert_assets_served(_signed_in())


def test_a_signed_out_browser_is_sent_to_sign_in_and_back() -> None:
    response = Client().get("/api/docs/?lang=en", headers=BROWSER)
    assert response.status_code == 302
    target = urlparse(response["Location"])
    assert not target.netloc  # same origin
    assert Client().get(target.path).status_code == 200  # the sign-in page exists
    assert parse_qs(target.query)["next"] == ["/api/docs/?lang=en"]


def test_signed_out_api_clients_still_get_401() -> None:
    """Scripts and the OpenAPI document keep the API's answer (401, WWW-Authenticate)."""
    for path, headers in (("/api/docs/", {}), ("/api/schema/", BROWSER), ("/api/schema/", {})):
        response: Any = Client().get(path, headers=headers)
        assert response.status_code == 401, path
