"""Credentials with real workers: a credential this test process stored (under the run's random key,
config/credential_keys.py) opens in the worker processes it starts, and a key rotation done as the
runbook says (docs/operations.md "Credential keys") loses nothing: after the old key is removed,
workers holding only the new one still use the secret and the cached OAuth2 token."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from credentials_app import crypto
from credentials_app.models import Credential
from credentials_app.services import credential_create
from executions_app.models import Execution
from tests.builders import chain, node
from tests.factories import UserFactory, create_schema
from tests.helpers.http_server import LocalServer
from tests.system.conftest import SystemEnv
from tests.system.helpers import BASE_DIR, SYSTEM_MARKS, start, wait_all

pytestmark = SYSTEM_MARKS


def _run_once(schema: object) -> None:
    [execution_id] = start(schema)  # type: ignore[arg-type]
    wait_all([execution_id], "completed", "failed", timeout=60, what="the execution to finish")
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "completed", execution.error
    assert execution.result == 200


@pytest.mark.timeout(240)
def test_a_rotation_by_the_runbook_keeps_secrets_and_cached_tokens_usable(system: SystemEnv) -> None:
    server = LocalServer("127.0.0.1", "oauth")
    try:
        old = os.environ["SCHEMA_CREDENTIAL_KEYS"]  # this run's key, which the first worker inherits
        new = Fernet.generate_key().decode()
        user = UserFactory()
        data = {"token_url": server.url("/oauth/token"), "client_id": "app", "client_secret": server.client_secret}
        credential = credential_create(owner=user, name="oauth", type="oauth2_client_credentials", data=data)
        definition = chain(
            node("start", "manual_trigger"),
            node("call", "http_request", {"url": server.url("/protected"), "auth": {"credential": "oauth"}}),
            node("done", "end", {"output": "{{ input.status }}"}),
        )
        schema = create_schema(user=user, definition=definition, activate=True)

        first = system.start_worker(concurrency=1)
        _run_once(schema)
        assert len(server.tokens) == 1, "the worker fetched a token and cached it"

        # 1. The new key first on every worker, the old one kept.
        second = system.start_worker(concurrency=1, SCHEMA_CREDENTIAL_KEYS=f"{new},{old}")
        first.stop()
        _run_once(schema)
        # 2. rotate_credential_keys, as an operator would run it.
        rotated = subprocess.run(
            [sys.executable, "manage.py", "rotate_credential_keys"],
            cwd=BASE_DIR,
            env=system.worker_env(SCHEMA_CREDENTIAL_KEYS=f"{new},{old}"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        assert "older keys may now be removed" in rotated.stdout
        assert Credential.objects.get(pk=credential.pk).key_id == crypto.key_fingerprint(new)
        # 3. The old key removed.
        system.start_worker(concurrency=1, SCHEMA_CREDENTIAL_KEYS=new)
        second.stop()
        _run_once(schema)
        assert len(server.tokens) == 1, "the cached token was re-encrypted, not lost and fetched again"
        system.assert_dlq_empty()
    finally:
        server.close()
