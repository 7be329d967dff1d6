"""Credentials at rest: encrypted under SCHEMA_CREDENTIAL_KEYS, rotated by `rotate_credential_keys`.

An old key keeps decrypting until the rotation has re-encrypted its rows; after that it can be
removed. Nothing secret is readable in the table without the keys.
"""

from __future__ import annotations

import io
import json
import logging
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


def test_without_keys_every_non_production_process_uses_the_same_key() -> None:
    """A test process (config.settings.test) and the workers it starts (config.settings.system,
    another SECRET_KEY) must open each other's credentials."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.system", "SCHEMA_CREDENTIAL_KEYS": ""}
    probe = "import django; django.setup(); from credentials_app import crypto; print(crypto.current_key_id())"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == crypto.current_key_id()
