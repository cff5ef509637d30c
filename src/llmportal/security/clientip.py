"""The client's IP: the peer, or X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _trusted(ip: str, proxies: Sequence[Network]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in proxies)


def client_ip(conn: HTTPConnection, proxies: Sequence[Network]) -> str:
    peer = conn.client.host if conn.client else "0.0.0.0"
    if not proxies or not _trusted(peer, proxies):
        return peer
    forwarded = conn.headers.get("x-forwarded-for", "")
    # Walk from the nearest hop back; the first untrusted address is the client.
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return hops[0] if hops else peer
