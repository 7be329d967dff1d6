"""Encryption of credential data at rest: `cryptography`'s MultiFernet under `SCHEMA_CREDENTIAL_KEYS`.

Fernet is AES-128-CBC with an HMAC-SHA256 over the ciphertext (authenticated: a changed byte is
refused, not decrypted into garbage). The keys come from the environment, newest first: the first
key encrypts, every key decrypts, so a new key is introduced before the old one is dropped and
`manage.py rotate_credential_keys` re-encrypts the rows in between (docs/operations.md). Each row
records the fingerprint of the key that encrypted it (`key_id`), so rotation knows what is left.
Production refuses to start without a key (config/settings/production.py); elsewhere (make run,
tests, the system tests' workers) an empty list means one fixed development key, the same in every
process whatever its settings module (so a test process and the workers it starts agree); it
protects nothing, like the development `SECRET_KEY`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

# Not a secret: the development fallback when SCHEMA_CREDENTIAL_KEYS is empty (production refuses that).
DEVELOPMENT_KEY_SOURCE = "schema-development-only-credential-key"


class CredentialKeyError(Exception):
    """The data cannot be decrypted with any configured key (a key was removed too early)."""


def derived_key(secret: str) -> str:
    """A Fernet key derived from a text (the development fallback; never used in production)."""
    return base64.urlsafe_b64encode(hashlib.sha256(b"schema-credential-key:" + secret.encode()).digest()).decode()


def key_fingerprint(key: str) -> str:
    """Names a key without revealing it (stored per row, shown by the rotation command)."""
    return hashlib.sha256(b"schema-key-id:" + key.encode()).hexdigest()[:12]


def configured_keys() -> list[str]:
    keys = [k.strip() for k in settings.SCHEMA_CREDENTIAL_KEYS if k.strip()]
    return keys or [derived_key(DEVELOPMENT_KEY_SOURCE)]


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(configured_keys()))


def current_key_id() -> str:
    return key_fingerprint(configured_keys()[0])


def encrypt(data: Any) -> str:
    """JSON-encodes and encrypts under the newest key."""
    return _current().encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()


def decrypt(token: str) -> Any:
    try:
        return json.loads(_current().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialKeyError(
            "Credential data cannot be decrypted with any key in SCHEMA_CREDENTIAL_KEYS "
            "(was the key that encrypted it removed before rotate_credential_keys ran?)."
        ) from None


def reencrypt(token: str) -> str:
    """The same data encrypted under the newest key (decryptable with any configured key)."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialKeyError(
            "Credential data cannot be decrypted with any key in SCHEMA_CREDENTIAL_KEYS."
        ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
