"""Credentials at rest: encrypted under SCHEMA_CREDENTIAL_KEYS, rotated by `rotate_credential_keys`.

An old key keeps decrypting until the rotation has re-encrypted its rows; after that it can be
removed. Nothing secret is readable in the table without the keys.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from credentials_app import crypto, services
from credentials_app.models import Credential
from credentials_app.resolver import OwnerCredentialResolver, credential_data
from engine.errors import NodeError

pytestmark = pytest.mark.django_db

SECRET = "ghp_" + "S3cr3tT0ken" * 3
OAUTH_DATA = {"token_url": "https://auth.example.com/token", "client_id": "app", "client_secret": SECRET + "-oauth"}
BASE_DIR = Path(__file__).resolve().parents[2]
FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")


def _row_text(credential: Credential) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT c::text FROM credentials c WHERE id = %s", [credential.pk])
        return str(cursor.fetchone()[0])


def test_secret_is_encrypted_in_the_row_and_round_trips(user: Any) -> None:
    credential = services.credential_create(owner=user, name="github", type="bearer_token", data={"token": SECRET})
    assert SECRET not in _row_text(credential) and SECRET[-12:] not in _row_text(credential)
    assert credential.hint == "••••" + SECRET[-4:]
    assert credential_data(Credential.objects.get(pk=credential.pk)) == {"token": SECRET}


def test_a_changed_ciphertext_is_refused_not_decrypted(user: Any) -> None:
    credential = services.credential_create(owner=user, name="x", type="bearer_token", data={"token": SECRET})
    token = credential.secret_data
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(crypto.CredentialKeyError):
        crypto.decrypt(tampered)


def test_rotation_old_key_decrypts_until_rotated_then_can_be_removed(user: Any, settings: Any) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SCHEMA_CREDENTIAL_KEYS = [old]
    a = services.credential_create(owner=user, name="a", type="bearer_token", data={"token": SECRET})
    b = services.credential_create(
        owner=user, name="b", type="basic_auth", data={"username": "ann", "password": SECRET + "-b"}
    )
    Credential.objects.filter(pk=a.pk).update(token_data=crypto.encrypt("cached-token-value"))

    settings.SCHEMA_CREDENTIAL_KEYS = [new, old]  # step 1: the new key first, the old one kept
    assert credential_data(Credential.objects.get(pk=a.pk)) == {"token": SECRET}
    out = io.StringIO()
    call_command("rotate_credential_keys", "--status", stdout=out)
    assert "key #2): 2 credential(s)" in out.getvalue()

    out = io.StringIO()
    call_command("rotate_credential_keys", "--batch-size", "1", stdout=out)  # step 2
    assert "done: 2 re-encrypted" in out.getvalue() and "older keys may now be removed" in out.getvalue()
    assert set(Credential.objects.values_list("key_id", flat=True)) == {crypto.key_fingerprint(new)}
    out = io.StringIO()
    call_command("rotate_credential_keys", stdout=out)  # resumable: nothing left to do
    assert "done: 0 re-encrypted" in out.getvalue()

    settings.SCHEMA_CREDENTIAL_KEYS = [new]  # step 3: the old key removed
    assert credential_data(Credential.objects.get(pk=a.pk)) == {"token": SECRET}
    assert credential_data(Credential.objects.get(pk=b.pk))["password"] == SECRET + "-b"
    assert crypto.decrypt(Credential.objects.get(pk=a.pk).token_data) == "cached-token-value"

    settings.SCHEMA_CREDENTIAL_KEYS = [old]  # the old key alone no longer opens anything
    with pytest.raises(crypto.CredentialKeyError):
        credential_data(Credential.objects.get(pk=a.pk))


def test_rotation_reports_rows_no_key_opens(user: Any, settings: Any) -> None:
    lost = Fernet.generate_key().decode()
    settings.SCHEMA_CREDENTIAL_KEYS = [lost]
    services.credential_create(owner=user, name="a", type="bearer_token", data={"token": SECRET})
    settings.SCHEMA_CREDENTIAL_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="could not be decrypted with any configured key"):
        call_command("rotate_credential_keys", stdout=io.StringIO())


def test_resolver_uses_only_the_owners_credentials_and_marks_use(user: Any, other_user: Any) -> None:
    mine = services.credential_create(owner=user, name="api", type="bearer_token", data={"token": SECRET})
    services.credential_create(owner=other_user, name="theirs", type="bearer_token", data={"token": "other-secret"})
    resolver = OwnerCredentialResolver(lambda: user.pk)
    assert resolver.resolve("api").data == {"token": SECRET}
    assert resolver.resolve(str(mine.pk)).name == "api"
    with pytest.raises(NodeError, match="no credential named 'theirs'"):
        resolver.resolve("theirs")
    assert Credential.objects.get(pk=mine.pk).last_used_at is not None


def test_changes_are_audited_with_the_user_and_never_the_data(user: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="schema.audit")
    credential = services.credential_create(owner=user, name="api", type="bearer_token", data={"token": SECRET})
    services.credential_update(credential, user=user, data={"token": SECRET + "2"})
    services.credential_delete(credential, user=user)
    events = [(r.getMessage(), r.__dict__.get("user")) for r in caplog.records if r.name == "schema.audit"]
    assert events == [
        ("credential created", user.email),
        ("credential updated", user.email),
        ("credential deleted", user.email),
    ]
    assert SECRET not in json.dumps([{k: str(v) for k, v in r.__dict__.items()} for r in caplog.records])


def test_a_token_cached_by_a_process_without_the_newest_key_is_rotated_too(user: Any, settings: Any) -> None:
    """A worker not yet given the new key fetches an OAuth2 token while the rotation runs and caches
    it after: the row must go back on rotation's list, or the token is lost with the old key."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SCHEMA_CREDENTIAL_KEYS = [old]
    services.credential_create(owner=user, name="oauth", type="oauth2_client_credentials", data=OAUTH_DATA)
    stale = OwnerCredentialResolver(lambda: user.pk)
    lent = stale.resolve("oauth")  # the stale worker starts its call

    settings.SCHEMA_CREDENTIAL_KEYS = [new, old]
    call_command("rotate_credential_keys", stdout=io.StringIO())
    assert Credential.objects.get().key_id == crypto.key_fingerprint(new)

    settings.SCHEMA_CREDENTIAL_KEYS = [old]  # ... and caches the token it fetched
    stale.token_obtained(lent, "cached-access-token", None)

    settings.SCHEMA_CREDENTIAL_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_credential_keys", stdout=out)
    assert "done: 1 re-encrypted" in out.getvalue()

    settings.SCHEMA_CREDENTIAL_KEYS = [new]  # the old key removed: everything still opens
    lent = OwnerCredentialResolver(lambda: user.pk).resolve("oauth")
    assert lent.access_token == "cached-access-token"
    assert lent.data["client_secret"] == OAUTH_DATA["client_secret"]


def test_a_token_cached_under_the_newest_key_leaves_an_older_row_on_rotations_list(user: Any, settings: Any) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SCHEMA_CREDENTIAL_KEYS = [old]
    services.credential_create(owner=user, name="oauth", type="oauth2_client_credentials", data=OAUTH_DATA)
    settings.SCHEMA_CREDENTIAL_KEYS = [new, old]  # the new key rolled out, rotation not yet run
    resolver = OwnerCredentialResolver(lambda: user.pk)
    resolver.token_obtained(resolver.resolve("oauth"), "fresh-token", None)
    assert Credential.objects.get().key_id == crypto.key_fingerprint(old)
    call_command("rotate_credential_keys", stdout=io.StringIO())
    settings.SCHEMA_CREDENTIAL_KEYS = [new]
    lent = OwnerCredentialResolver(lambda: user.pk).resolve("oauth")
    assert (lent.access_token, lent.data["client_secret"]) == ("fresh-token", OAUTH_DATA["client_secret"])


def test_rotation_is_logged_as_a_json_line_with_the_operator(user: Any, settings: Any, caplog: Any) -> None:
    from config.logging import JsonFormatter

    old = Fernet.generate_key().decode()
    settings.SCHEMA_CREDENTIAL_KEYS = [old]
    services.credential_create(owner=user, name="a", type="bearer_token", data={"token": SECRET})
    settings.SCHEMA_CREDENTIAL_KEYS = [Fernet.generate_key().decode(), old]
    caplog.set_level(logging.INFO, logger="schema.audit")
    call_command("rotate_credential_keys", stdout=io.StringIO())
    [record] = [r for r in caplog.records if r.getMessage() == "credential keys rotated"]
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "credential_keys_rotated" and line["rotated"] == 1 and line["user"]
    assert SECRET not in json.dumps(line)


def test_no_key_is_in_the_source_and_none_configured_is_refused(settings: Any) -> None:
    settings.SCHEMA_CREDENTIAL_KEYS = []
    with pytest.raises(crypto.CredentialKeyError, match="SCHEMA_CREDENTIAL_KEYS is empty"):
        crypto.encrypt({"token": SECRET})
    sources = [
        Path(crypto.__file__),
        BASE_DIR / "config" / "credential_keys.py",
        *BASE_DIR.glob("config/settings/*.py"),
    ]
    for source in sources:
        assert not FERNET_KEY.search(source.read_text()), f"a Fernet key is written in {source}"


def _key_id_in(settings_module: str, **env: str) -> str:
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, **env}
    probe = "import django; django.setup(); from credentials_app import crypto; print(crypto.current_key_id())"
    out = subprocess.run([sys.executable, "-c", probe], env=environ, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_each_test_run_has_its_own_key_and_the_processes_it_starts_share_it() -> None:
    """The system tests' workers (config.settings.system) open what the test process stored."""
    assert _key_id_in("config.settings.system") == crypto.current_key_id()
    runs = {_key_id_in("config.settings.test", SCHEMA_CREDENTIAL_KEYS="") for _ in range(2)}
    assert len(runs) == 2 and crypto.current_key_id() not in runs


def test_make_run_generates_one_key_per_installation_and_keeps_it(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    first = _key_id_in("config.settings.local", SCHEMA_CREDENTIAL_KEYS="", DATABASE_URL=database)
    key_file = tmp_path / "credential-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert crypto.key_fingerprint(key_file.read_text().strip()) == first
    assert _key_id_in("config.settings.local", SCHEMA_CREDENTIAL_KEYS="", DATABASE_URL=database) == first
    other = tmp_path / "other"
    other.mkdir()
    assert (
        _key_id_in("config.settings.local", SCHEMA_CREDENTIAL_KEYS="", DATABASE_URL=f"sqlite:///{other / 'db.sqlite3'}")
        != first
    )
