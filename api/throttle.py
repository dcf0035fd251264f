"""Where a request comes from: the client address, honouring X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi import Request

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: str, networks: Sequence[IPNetwork]) -> bool:
    ip = _address(address)
    return ip is not None and any(ip in n for n in networks)


def client_address(request: Request, trusted_proxies: Sequence[str]) -> str:
    """The client's address: the peer, or — when the peer is a trusted proxy — the nearest untrusted hop of
    X-Forwarded-For, read from the right because every hop left of our own proxies is the client's to forge."""
    peer = request.client.host if request.client else "unknown"
    networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            ip = _address(hop)
            return str(ip) if ip is not None else hop[:64]  # the hop our own proxy wrote: counted as written
    return str(_address(hops[0])) if hops else peer
