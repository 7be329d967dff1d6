"""Outbound safety for `http_request` nodes (SSRF protection).

Before every request and every redirect hop the host is resolved and each address checked: loopback,
private, link-local (incl. the cloud metadata address 169.254.169.254), multicast, reserved and
unspecified addresses are refused unless `SCHEMA_HTTP_ALLOWLIST` lists the host name or a network
containing the address. Only http and https are allowed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from engine.errors import NodeError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
                self.hosts.add(entry.lower())

    def _allowed(self, host: str, address: IPAddress) -> bool:
        return host.lower() in self.hosts or any(address in network for network in self.networks)

    @staticmethod
    def _forbidden(address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
            or not address.is_global
        )

    def check(self, method: str, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise NodeError(f"Only http and https URLs may be called, not {parts.scheme or 'no scheme'!r}.")
        host = parts.hostname
        if not host:
            raise NodeError(f"The URL {url!r} has no host.")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise NodeError(f"The URL {url!r} has an invalid port.") from exc
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise NodeError(f"Cannot resolve host {host!r}: {exc}") from exc
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if self._forbidden(address) and not self._allowed(host, address):
                raise NodeError(
                    f"Refusing to call {host} ({address}): private, loopback, link-local and metadata "
                    "addresses are blocked (allow them with SCHEMA_HTTP_ALLOWLIST).",
                    details={"blocked_address": str(address)},
                )


def outbound_policy() -> OutboundPolicy:
    return OutboundPolicy(list(settings.SCHEMA_HTTP_ALLOWLIST))
