"""Encryption of credential data at rest: `cryptography`'s MultiFernet under `SCHEMA_CREDENTIAL_KEYS`.

Fernet is AES-128-CBC with an HMAC-SHA256 over the ciphertext (authenticated: a changed byte is
refused, not decrypted into garbage). The keys come from the environment, newest first: the first
key encrypts, every key decrypts, so a new key is introduced before the old one is dropped and
`manage.py rotate_credential_keys` re-encrypts the rows in between (docs/operations.md). Each row
records the fingerprint of the key that encrypted it (`key_id`), so rotation knows what is left.
No key is in the source: production refuses to start without one (config/settings/production.py),
`make run` generates one per installation and the test suite one per run (config/credential_keys.py).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialKeyError(Exception):
    """No configured key decrypts the data (one was removed too early), or no key is configured."""


def key_fingerprint(key: str) -> str:
    """Names a key without revealing it (stored per row, shown by the rotation command)."""
    return hashlib.sha256(b"schema-key-id:" + key.encode()).hexdigest()[:12]


def configured_keys() -> list[str]:
    keys = [k.strip() for k in settings.SCHEMA_CREDENTIAL_KEYS if k.strip()]
    if not keys:
        raise CredentialKeyError("SCHEMA_CREDENTIAL_KEYS is empty: no key to encrypt or decrypt credentials with.")
    return keys


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(configured_keys()))


def key_ids() -> list[str]:
    """The fingerprints of the configured keys, newest first."""
    return [key_fingerprint(key) for key in configured_keys()]


def current_key_id() -> str:
    return key_ids()[0]


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
