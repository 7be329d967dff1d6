"""The editor (SPA) is served at / for client-side routes; missing asset files are 404s."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/schemas", "/schemas/5f0c/", "/executions/abc", "/login"])
def test_client_routes_serve_the_editor(client: Client, path: str) -> None:
    response = client.get(path)
    if (settings.FRONTEND_DIST / "index.html").exists():
        assert response.status_code == 200 and b'<div id="root">' in response.content
    else:
        assert response.status_code == 404 and "make frontend" in response.json()["detail"]


def test_missing_asset_is_404_not_the_editor(client: Client) -> None:
    response = client.get("/assets/index-deadbeef.js")
    assert response.status_code == 404
    assert client.get("/favicon.png").status_code == 404
