"""Cursor pagination of the two lists (`/api/schemas/`, `/api/executions/`): pages made by the server
walk the whole list both ways; any cursor the server did not make, and any page size outside
1 to 200 (empty included), is a 400 `validation_error` naming the parameter — never a 500."""

from __future__ import annotations

import base64
import re
from datetime import UTC, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from api.pagination import CURSOR_PATTERN
from executions_app.services import execution_create
from tests.factories import create_schema

pytestmark = pytest.mark.django_db

LISTS = ["/api/schemas/", "/api/executions/"]
# Issue 14: positions a forged cursor carried to PostgreSQL (offset beyond ±15:59, year 0) → 500.
FORGED_POSITIONS = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "0000-01-01T00:00:00Z"]


def drf_cursor(**tokens: Any) -> str:
    """A cursor in DRF's unsigned format: base64 of `o=<offset>&r=<reverse>&p=<position>`."""
    return base64.b64encode(urlencode(tokens).encode()).decode()


def assert_refused(response: Any, parameter: str) -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert body["type"] == "validation_error"
    assert [error["path"] for error in body["errors"]] == [parameter]


@pytest.fixture
def rows(user: Any) -> None:
    """Five schemas and five executions of the signed-in user."""
    for i in range(5):
        schema = create_schema(user=user, name=f"s{i}")
        execution_create(schema=schema, trigger_type="manual", payload={}, created_by=user)


def cursor_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["cursor"][0]


@pytest.mark.parametrize("path", LISTS)
def test_pages_made_by_the_server_walk_the_list_both_ways(api: APIClient, rows: None, path: str) -> None:
    everything = [item["id"] for item in api.get(path).json()["results"]]
    assert len(everything) == 5
    seen, url, pages = [], f"{path}?page_size=2", []
    while url:
        page = api.get(url).json()
        seen += [item["id"] for item in page["results"]]
        pages.append(page)
        url = page["next"]
    assert seen == everything and len(pages) == 3
    back = api.get(pages[-1]["previous"]).json()
    assert [item["id"] for item in back["results"]] == everything[2:4]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("position", FORGED_POSITIONS)
def test_forged_positions_are_400(api: APIClient, rows: None, path: str, position: str) -> None:
    assert_refused(api.get(path, {"cursor": drf_cursor(o=0, r=0, p=position)}), "cursor")
    assert_refused(api.get(path, {"cursor": drf_cursor(p=position)}), "cursor")


@pytest.mark.parametrize("path", LISTS)
def test_a_server_cursor_changed_in_any_way_is_400(api: APIClient, rows: None, path: str) -> None:
    cursor = cursor_of(api.get(path, {"page_size": 2}).json()["next"])
    assert api.get(path, {"cursor": cursor}).status_code == 200
    changed = {cursor[:-1] + ("A" if cursor[-1] != "A" else "B"), cursor[1:], cursor + "x", "x" + cursor, ""}
    for forged in changed:
        assert_refused(api.get(path, {"cursor": forged}), "cursor")


def _positions() -> st.SearchStrategy[str]:
    offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
    instants = st.datetimes(timezones=st.just(UTC) | offsets).map(lambda d: d.isoformat())
    return instants | st.text(max_size=40)


cursors = (
    st.text(max_size=120)
    | st.builds(
        lambda o, r, p: drf_cursor(o=o, r=r, p=p),
        st.integers(-5, 10**6) | st.text(max_size=5),
        st.integers(-1, 2) | st.text(max_size=3),
        _positions(),
    )
    | st.binary(max_size=90).map(lambda b: base64.b64encode(b).decode())
)


@pytest.mark.parametrize("path", LISTS)
@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same cursors every run: a failure reproduces
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cursor=cursors)
@example(cursor=drf_cursor(p=FORGED_POSITIONS[0]))
@example(cursor="")
def test_any_cursor_not_made_by_the_server_is_400(api: APIClient, rows: None, path: str, cursor: str) -> None:
    assert_refused(api.get(path, {"cursor": cursor}), "cursor")


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("size", ["", "0", "-1", "201", "x", "2.5", " 3"])
def test_a_page_size_outside_1_to_200_is_400(api: APIClient, path: str, size: str) -> None:
    assert_refused(api.get(path, {"page_size": size}), "page_size")


@pytest.mark.parametrize("path", LISTS)
def test_page_size_bounds_are_served(api: APIClient, rows: None, path: str) -> None:
    assert len(api.get(path, {"page_size": 1}).json()["results"]) == 1
    assert len(api.get(path, {"page_size": 200}).json()["results"]) == 5


def test_server_cursors_match_the_documented_pattern(api: APIClient, rows: None) -> None:
    cursor = cursor_of(api.get("/api/executions/", {"page_size": 1}).json()["next"])
    assert re.fullmatch(CURSOR_PATTERN, cursor)
