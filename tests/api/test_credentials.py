"""`/api/credentials/`: write-only secrets, masked reads, the schemas' permissions, 409 while in
use, the "test" action through the outbound policy, and the checks at activation and run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from credentials_app.models import Credential
from tests.builders import chain, node
from tests.factories import create_schema
from tests.helpers.http_server import LocalServer

pytestmark = pytest.mark.django_db

TOKEN = "sk_live_" + "Zq9x" * 8
URL = "/api/credentials/"


def _create(api: Any, name: str = "stripe", **data: str) -> dict[str, Any]:
    response = api.post(URL, {"name": name, "type": "bearer_token", "data": data or {"token": TOKEN}}, format="json")
    assert response.status_code == 201, response.json()
    return dict(response.json())


def _http_schema(user: Any, reference: str, url: str = "https://api.example.com/v1", **kwargs: Any) -> Any:
    definition = chain(
        node("start", "manual_trigger"),
        node("call", "http_request", {"url": url, "auth": {"credential": reference}}),
        node("done", "end", {"output": "{{ input.status }}"}),
    )
    return create_schema(user=user, definition=definition, **kwargs)


def test_create_and_read_never_show_the_secret(api: Any) -> None:
    created = _create(api)
    assert created["hint"] == "••••" + TOKEN[-4:] and created["secret_fields"] == ["token"]
    assert "data" not in created and created["fields"] == {}
    detail = api.get(f"{URL}{created['id']}/").json()
    listing = api.get(URL).json()
    for body in (created, detail, listing):
        assert TOKEN not in json.dumps(body)
    assert [c["name"] for c in listing["results"]] == ["stripe"]
    basic = api.post(
        URL, {"name": "b", "type": "basic_auth", "data": {"username": "ann", "password": TOKEN}}, format="json"
    ).json()
    assert basic["fields"] == {"username": "ann"} and TOKEN not in json.dumps(basic)


def test_update_keeps_secret_fields_left_out_and_replaces_given_ones(api: Any, user: Any) -> None:
    created = api.post(
        URL, {"name": "hdr", "type": "header", "data": {"name": "X-Api-Key", "value": TOKEN}}, format="json"
    ).json()
    renamed = api.patch(f"{URL}{created['id']}/", {"name": "header-key"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "header-key"
    changed = api.patch(f"{URL}{created['id']}/", {"data": {"name": "X-Other"}}, format="json")
    assert changed.json()["fields"] == {"name": "X-Other"}
    from credentials_app.resolver import credential_data

    assert credential_data(Credential.objects.get(pk=created["id"])) == {"name": "X-Other", "value": TOKEN}
    api.patch(f"{URL}{created['id']}/", {"data": {"value": "new-value-123456789"}}, format="json")
    assert credential_data(Credential.objects.get(pk=created["id"]))["value"] == "new-value-123456789"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "a", "type": "bearer_token", "data": {}}, "data.token"),
        ({"name": "a", "type": "bearer_token", "data": {"token": "x", "extra": "y"}}, "data.extra"),
        ({"name": "a", "type": "nope", "data": {"token": "x"}}, "type"),
        ({"name": "", "type": "bearer_token", "data": {"token": "x"}}, "name"),
        ({"name": "a", "type": "bearer_token"}, "data"),
        ({"name": "a", "type": "header", "data": {"name": "bad header", "value": "v"}}, "data.name"),
        ({"name": "a", "type": "bearer_token", "data": {"token": "line\nbreak"}}, "data.token"),
        ({"name": "a", "type": "bearer_token", "data": {"token": 5}}, "data.token"),
        ({"name": 5, "type": "bearer_token", "data": {"token": "x"}}, "name"),
    ],
)
def test_bad_input_is_a_located_400(api: Any, body: dict[str, Any], path: str) -> None:
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert path in [e["path"] for e in response.json()["errors"]], response.json()


def test_name_is_unique_per_owner(api: Any, client_for: Any, other_user: Any) -> None:
    _create(api)
    again = api.post(URL, {"name": "stripe", "type": "bearer_token", "data": {"token": "t"}}, format="json")
    assert again.status_code == 400 and "already have a credential named 'stripe'" in json.dumps(again.json())
    assert _create(client_for(other_user))["name"] == "stripe"  # another owner may use the name


def test_permissions_anonymous_other_owner_staff(
    api: Any, anon_client: Any, client_for: Any, other_user: Any, staff_user: Any
) -> None:
    created = _create(api)
    item = f"{URL}{created['id']}/"
    assert anon_client.get(URL).status_code == 401
    assert anon_client.get(item).status_code == 401
    other = client_for(other_user)
    assert other.get(URL).json()["results"] == []
    assert other.get(item).status_code == 404
    assert other.patch(item, {"name": "mine"}, format="json").status_code == 404
    assert other.delete(item).status_code == 404
    assert other.post(f"{item}test/", {"url": "https://example.com"}, format="json").status_code == 404
    staff = client_for(staff_user)
    seen = staff.get(item)
    assert seen.status_code == 200 and seen.json()["owner"] == created["owner"]
    assert TOKEN not in json.dumps(seen.json())
    assert api.get(item).status_code == 200


def test_delete_in_use_is_a_409_naming_the_schemas_unless_forced(api: Any, user: Any) -> None:
    created = _create(api)
    _http_schema(user, "stripe").name  # noqa: B018
    schema = _http_schema(user, created["id"])
    schema.name = "Charge by id"
    schema.save()
    assert [s["name"] for s in api.get(f"{URL}{created['id']}/").json()["used_by"]] == ["Charge by id", "Greeter"]
    refused = api.delete(f"{URL}{created['id']}/")
    assert refused.status_code == 409
    assert "'Charge by id'" in refused.json()["detail"] and "'Greeter'" in refused.json()["detail"]
    assert api.delete(f"{URL}{created['id']}/?force=true").status_code == 204
    assert not Credential.objects.exists()
    unused = _create(api, "unused")
    assert api.delete(f"{URL}{unused['id']}/").status_code == 204


def test_activate_and_run_refuse_a_missing_credential_in_plain_words(api: Any, user: Any) -> None:
    schema = _http_schema(user, "stripe")
    refused = api.post(f"/api/schemas/{schema.id}/activate/")
    assert refused.status_code == 400
    body = refused.json()
    assert body["detail"] == "The schema cannot be activated: it names missing credentials."
    assert body["errors"][0]["path"] == "nodes[1].config.auth.credential" and body["errors"][0]["node_id"] == "call"
    assert "no credential named 'stripe'" in body["errors"][0]["message"]
    run = api.post(f"/api/schemas/{schema.id}/execute/", {}, format="json")
    assert run.status_code == 400 and "no credential named 'stripe'" in json.dumps(run.json())
    validate = api.post(f"/api/schemas/{schema.id}/validate/", {}, format="json").json()
    assert validate["valid"] is False
    _create(api)
    assert api.post(f"/api/schemas/{schema.id}/activate/").status_code == 200


def test_another_users_credential_does_not_satisfy_a_schema(
    api: Any, user: Any, client_for: Any, other_user: Any
) -> None:
    _create(client_for(other_user))
    schema = _http_schema(user, "stripe")
    assert api.post(f"/api/schemas/{schema.id}/activate/").status_code == 400


def test_the_test_action_calls_through_the_outbound_policy(api: Any, settings: Any) -> None:
    server = LocalServer("127.0.0.1")
    try:
        created = _create(api)
        blocked = api.post(f"{URL}{created['id']}/test/", {"url": server.url("/echo")}, format="json").json()
        assert blocked["ok"] is False and "Refusing to call 127.0.0.1" in blocked["error"]
        assert server.requests == []
        settings.SCHEMA_HTTP_ALLOWLIST = ["127.0.0.1/32"]
        ok = api.post(f"{URL}{created['id']}/test/", {"url": server.url("/echo")}, format="json")
        assert ok.status_code == 200 and ok.json() == {"ok": True, "status": 200, "error": None}
        assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
        refused = api.post(f"{URL}{created['id']}/test/", {"url": server.url("/status/401")}, format="json").json()
        assert refused == {"ok": False, "status": 401, "error": "The server answered HTTP 401."}
        bad = api.post(f"{URL}{created['id']}/test/", {"url": "file:///etc/passwd"}, format="json")
        assert bad.status_code == 400
    finally:
        server.close()


def test_types_describe_the_fields(api: Any) -> None:
    types = {t["type"]: t for t in api.get(f"{URL}types/").json()}
    assert set(types) == {"bearer_token", "basic_auth", "header", "query_param", "oauth2_client_credentials"}
    fields = {f["name"]: f["secret"] for f in types["oauth2_client_credentials"]["fields"]}
    assert fields == {"token_url": False, "client_id": False, "client_secret": True, "scope": False, "audience": False}


def test_admin_shows_metadata_and_no_secret(client: Any, user: Any, api: Any) -> None:
    from tests.factories import UserFactory

    created = _create(api)
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    listing = client.get("/admin/credentials_app/credential/")
    page = client.get(f"/admin/credentials_app/credential/{created['id']}/change/")
    assert listing.status_code == 200 and page.status_code == 200
    assert b"stripe" in page.content
    row = Credential.objects.get(pk=created["id"])
    for content in (listing.content, page.content):
        assert TOKEN.encode() not in content and row.secret_data.encode() not in content
    assert b'name="secret_data"' not in page.content and b"<form" not in page.content.split(b"</header>")[-1][:0]
    assert client.get("/admin/credentials_app/credential/add/").status_code == 403


def test_a_credential_named_in_a_header_expression_is_checked_and_counted_as_used(api: Any, user: Any) -> None:
    definition = chain(
        node("start", "manual_trigger"),
        node(
            "call",
            "http_request",
            {"url": "https://api.example.com", "headers": {"X-Key": "{{ credentials.gh.token }}"}},
        ),
    )
    schema = create_schema(user=user, definition=definition)
    refused = api.post(f"/api/schemas/{schema.id}/activate/")
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "nodes[1].config.headers.X-Key"
    created = _create(api, "gh")
    assert [s["name"] for s in api.get(f"{URL}{created['id']}/").json()["used_by"]] == ["Greeter"]
    assert api.post(f"/api/schemas/{schema.id}/activate/").status_code == 200


def test_where_used_follows_every_save_of_the_definition(api: Any, user: Any) -> None:
    created = _create(api)
    detail = f"{URL}{created['id']}/"
    schema = _http_schema(user, "stripe", name="Charge")
    assert [s["name"] for s in api.get(detail).json()["used_by"]] == ["Charge"]
    by_id = json.loads(json.dumps(schema.definition).replace('"stripe"', json.dumps(created["id"])))
    assert api.patch(f"/api/schemas/{schema.id}/", {"definition": by_id}, format="json").status_code == 200
    assert [s["name"] for s in api.get(detail).json()["used_by"]] == ["Charge"]
    without = chain(node("start", "manual_trigger"), node("done", "end", {"output": "{{ input }}"}))
    assert api.patch(f"/api/schemas/{schema.id}/", {"definition": without}, format="json").status_code == 200
    assert api.get(detail).json()["used_by"] == []
    assert api.delete(detail).status_code == 204  # no longer in use: no 409


def test_where_used_is_one_indexed_query_however_many_schemas_exist(
    api: Any, user: Any, other_user: Any, staff_user: Any, client_for: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _create(api, "stripe")
    _create(api, "github")
    _http_schema(user, "stripe", name="Uses stripe")

    def listing_queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            listed = client_for(staff_user).get(URL)
        assert listed.status_code == 200
        used = {c["name"]: [s["name"] for s in c["used_by"]] for c in listed.json()["results"]}
        assert used == {"github": [], "stripe": ["Uses stripe"]}
        return [q["sql"] for q in captured.captured_queries]

    few = listing_queries()
    for index in range(25):  # other schemas, several naming a credential "stripe" of another owner
        _http_schema(other_user if index % 2 else user, "stripe" if index % 2 else "none", name=f"Other {index}")
    many = listing_queries()
    assert len(many) == len(few)
    assert not any('"schemas"."definition"' in sql for sql in many), "the listing reads definitions"


def test_every_change_through_the_api_is_an_audit_json_line_naming_the_user(api: Any, user: Any, caplog: Any) -> None:
    import logging

    from config.logging import JsonFormatter

    caplog.set_level(logging.INFO, logger="schema.audit")
    created = _create(api)
    assert api.patch(f"{URL}{created['id']}/", {"data": {"token": TOKEN + "x"}}, format="json").status_code == 200
    _http_schema(user, "stripe", name="Charge")
    assert api.delete(f"{URL}{created['id']}/?force=true").status_code == 204
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "schema.audit"]
    assert [(line["event"], line["user"], line["credential_id"]) for line in lines] == [
        ("credential_created", user.email, created["id"]),
        ("credential_updated", user.email, created["id"]),
        ("credential_deleted", user.email, created["id"]),
    ]
    assert lines[1]["changed"] == ["data"] and len(lines[2]["used_by"]) == 1
    assert TOKEN not in json.dumps(lines)
