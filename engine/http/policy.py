"""Where `http_request` may connect (SSRF protection): the outbound policy.

A schema can make the worker call any URL, so every address the worker connects to is vetted:
loopback, private (RFC 1918, ULA), link-local (incl. the cloud metadata address 169.254.169.254),
shared/CGNAT, multicast, reserved, unspecified and other non-global addresses are refused, also
when they hide inside IPv6 (IPv4-mapped `::ffff:a.b.c.d`, 6to4, Teredo, NAT64 `64:ff9b::/96`),
plus a few public addresses that are platform endpoints (Azure's WireServer 168.63.129.16).
The allow-list (the worker passes `SCHEMA_HTTP_ALLOWLIST`) lets chosen host names or networks
through (e.g. an internal API).

The check is made on the resolved addresses, at connect time: `http_request` resolves the host
once through `resolve()` and connects to one of exactly those vetted addresses (TLS still verifies
the host name). A DNS answer that changes between a check and the connection (DNS rebinding)
therefore cannot smuggle a private address in, and every redirect hop is a new connection that
is vetted the same way. Decimal/octal/hex IPv4 spellings (`2130706433`, `0177.0.0.1`, `0x7f.1`)
are resolved by the system resolver to the address they mean and refused like it.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from engine.errors import NodeError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Public addresses that are nonetheless platform internals.
EXTRA_BLOCKED = [ipaddress.ip_network("168.63.129.16/32")]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_forbidden(address: IPAddress) -> bool:
    """True for anything that is not a plain public unicast address."""
    inner = embedded_ipv4(address)
    if inner is not None and (address in _NAT64 or getattr(address, "ipv4_mapped", None) is not None):
        # ::ffff:a.b.c.d is just a.b.c.d; a NAT64 address reaches exactly its IPv4 (DNS64 networks
        # show every IPv4 destination this way, so judge the destination, not the prefix).
        candidates: list[IPAddress] = [inner]
    else:
        candidates = [address] if inner is None else [address, inner]
    for candidate in candidates:
        if (
            candidate.is_loopback
            or candidate.is_private
            or candidate.is_link_local
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_unspecified
            or not candidate.is_global
            or any(candidate in network for network in EXTRA_BLOCKED)
        ):
            return True
    return False


class OutboundPolicy:
    def __init__(self, allowlist: list[str]) -> None:
        self.hosts: set[str] = set()
        self.networks: list[IPNetwork] = []
        for entry in (item.strip() for item in allowlist):
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.add(entry.lower().rstrip("."))

    def _allowed(self, host: str, address: IPAddress) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        inner = embedded_ipv4(address)
        return any(address in network or (inner is not None and inner in network) for network in self.networks)

    @staticmethod
    def _forbidden(address: IPAddress) -> bool:
        return is_forbidden(address)

    def resolve(self, host: str, port: int) -> list[str]:
        """Resolves `host` and returns its addresses if every one of them may be called.

        All-or-nothing: a name with one private address among public ones is refused (a rebinding
        trick can list both). Raises `NodeError` naming the refused address."""
        host = host.strip("[]")
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise NodeError(f"Cannot resolve host {host!r}: {exc}") from None
        addresses: list[str] = []
        for info in infos:
            text = str(info[4][0]).split("%")[0]
            address = ipaddress.ip_address(text)
            if self._forbidden(address) and not self._allowed(host, address):
                raise NodeError(
                    f"Refusing to call {host} ({address}): private, loopback, link-local and metadata "
                    "addresses are blocked (allow them with SCHEMA_HTTP_ALLOWLIST).",
                    details={"blocked_address": str(address)},
                )
            if text not in addresses:
                addresses.append(text)
        if not addresses:
            raise NodeError(f"Cannot resolve host {host!r}: no addresses")
        return addresses

    def check(self, method: str, url: str) -> None:
        """Vets a URL before a request (scheme, host, port, and the addresses it resolves to)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise NodeError(f"Only http and https URLs may be called, not {parts.scheme or 'no scheme'!r}.")
        host = parts.hostname
        if not host:
            raise NodeError("The URL has no host.")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise NodeError("The URL has an invalid port.") from None
        self.resolve(host, port)
