"""The engine's `CredentialResolver` on PostgreSQL: what the worker lends `http_request`.

`OwnerCredentialResolver` finds a credential of the schema's owner by id or name when a node asks
(the owner is looked up only then, so a walk without credentials costs nothing), decrypts it in the
worker for that one call, records when it was last used, and keeps fetched OAuth2 tokens encrypted
until they expire. `SingleCredentialResolver` lends one known credential (the API's "test" action).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Case, F, Value, When
from django.utils import timezone

from engine.errors import NodeError
from engine.http.auth import Credential as EngineCredential

from . import crypto
from .models import Credential
from .selectors import credential_of_owner


def credential_data(credential: Credential) -> dict[str, str]:
    """Every field of the credential, secrets decrypted (only ever in memory, for one call)."""
    return {**credential.public_data, **crypto.decrypt(credential.secret_data)}


def for_engine(credential: Credential) -> EngineCredential:
    try:
        data = credential_data(credential)
    except crypto.CredentialKeyError as exc:
        raise NodeError(f"Credential {credential.name!r} cannot be used: {exc}") from None
    token: str | None = None
    if credential.token_data:
        try:
            token = str(crypto.decrypt(credential.token_data))
        except crypto.CredentialKeyError:
            token = None  # fetched again
    return EngineCredential(
        id=str(credential.pk),
        name=credential.name,
        type=credential.type,
        data=data,
        access_token=token,
        token_expires_at=credential.token_expires_at if token else None,
    )


class SingleCredentialResolver:
    """Lends exactly one credential, whatever the reference."""

    def __init__(self, credential: Credential) -> None:
        self.credential = credential

    def resolve(self, reference: str) -> EngineCredential:
        return for_engine(self.credential)

    def token_obtained(self, credential: EngineCredential, token: str, expires_at: datetime | None) -> None:
        # `key_id` must name the oldest key any part of the row needs, or rotation would skip a
        # token written under an older key (a process not yet given the newest): a row under one
        # of this process's older keys is left to rotation; any other row gets this process's key.
        current, *older = crypto.key_ids()
        Credential.objects.filter(pk=credential.id).update(
            token_data=crypto.encrypt(token),
            token_expires_at=expires_at,
            key_id=Case(When(key_id__in=older, then=F("key_id")), default=Value(current)),
        )


class OwnerCredentialResolver(SingleCredentialResolver):
    """Credentials of one owner; `owner_id` is called on first use (None: the schema has no owner)."""

    def __init__(self, owner_id: Callable[[], Any]) -> None:
        self._owner_id = owner_id
        self._owner_known = False
        self._owner: Any = None

    def resolve(self, reference: str) -> EngineCredential:
        if not self._owner_known:
            self._owner, self._owner_known = self._owner_id(), True
        found = credential_of_owner(self._owner, reference)
        if found is None:
            raise NodeError(
                f"There is no credential named {reference!r} for this schema's owner "
                "(create it on the Credentials page, or pick another in the node's auth)."
            )
        Credential.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
        return for_engine(found)
