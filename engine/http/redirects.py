"""What a redirect may carry: credentials stay with the origin they were written for.

`http_request` follows redirects itself (`engine/nodes/http_request.py`). When a hop changes scheme,
host or port, every header on the redaction list (`is_sensitive`: Authorization, Cookie, X-Api-Key,
Proxy-Authorization, …) is dropped for the rest of the call — a later hop back to the first origin
was chosen by another server, so it gets none either — which is what requests, curl and browsers do.
A hop from https to plain http is refused: the request was meant to travel encrypted.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from engine.errors import NodeError
from engine.http.redaction import is_sensitive, redact_url

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in; -1 for a port that is not one."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, -1)
    except ValueError:
        port = -1
    return scheme, parts.hostname or "", port


def without_credentials(headers: dict[str, str], private: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """`headers` without sensitive-looking ones and without the `private` ones (set by a credential)."""
    dropped = {name.lower() for name in private}
    return {name: value for name, value in headers.items() if not is_sensitive(name) and name.lower() not in dropped}


def refuse_downgrade(current: str, target: str) -> None:
    if urlsplit(current).scheme.lower() == "https" and urlsplit(target).scheme.lower() == "http":
        raise NodeError(
            f"Refusing to follow a redirect from https to http ({redact_url(target)}): "
            "the request would travel unencrypted."
        )
