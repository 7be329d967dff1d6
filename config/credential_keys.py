"""Where the credential keys come from when `SCHEMA_CREDENTIAL_KEYS` is empty (never in production).

Nothing in the source is a key. Production refuses to start without one (settings/production.py).
A developer's machine (`make run`, config.settings.local) gets a random key generated once per
installation into `var/credential-key` (git-ignored, mode 0600), so its credentials survive a
restart. The test suite generates a random key per run and exports it, so the processes it starts
(the live API, the system tests' workers) open the credentials it stores.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet

ENV_NAME = "SCHEMA_CREDENTIAL_KEYS"


def installation_key(path: Path) -> str:
    """The key in `path`, generated there first if missing (several processes may start at once)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(Fernet.generate_key().decode() + "\n")
        try:
            os.link(temporary, path)  # atomic and refuses to replace: the first process's key wins
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()


def per_run_key() -> str:
    """A random key for this test run, exported so the processes it starts use it too."""
    key = os.environ.get(ENV_NAME, "").strip()
    if not key:
        key = os.environ[ENV_NAME] = Fernet.generate_key().decode()
    return key
