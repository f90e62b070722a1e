"""Who is the client, and the daily visitor id that never reveals them.

The client address comes from the socket; `X-Forwarded-For` is believed only when the
socket peer is a trusted proxy, and then the right-most address that is not itself a
trusted proxy is the client (the left part of the chain is whatever the client wrote).

visitor id = HMAC-SHA256(salt of the local day, portal | ip (IPv6 by /64) | user agent),
first 16 hex characters. The salt is random (`secrets`), stored only in the analytics
database, replaced at local midnight and deleted after 48 hours, after which nobody (the
operator included) can recompute or link the ids of that day.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK = ("127.0.0.0/8", "::1/128")


def parse_networks(cidrs: Iterable[str]) -> tuple[IpNetwork, ...]:
    """CIDR strings to networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def _address(text: str) -> IpAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _within(address: IpAddress, networks: Sequence[IpNetwork]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IpNetwork]
) -> IpAddress | None:
    """The client's address: the socket peer, or through trusted proxies the right-most
    untrusted address of `X-Forwarded-For`."""
    address = _address(peer) if peer else None
    if address is None or not _within(address, trusted):
        return address
    chain = [part for header in forwarded_for for part in header.split(",")]
    for hop in reversed(chain):
        hop_address = _address(hop)
        if hop_address is None:
            return address  # a garbled chain: trust nothing beyond the last good hop
        address = hop_address
        if not _within(address, trusted):
            return address
    return address


@lru_cache(maxsize=16384)
def cached_client_address(
    peer: str | None, forwarded_for: tuple[str, ...], trusted: tuple[IpNetwork, ...]
) -> IpAddress | None:
    """`client_address`, cached (bounded): a visitor's beacons repeat the same peer and
    header, and parsing addresses was a good part of a beacon's cost."""
    return client_address(peer, forwarded_for, trusted)


@lru_cache(maxsize=16384)
def network_key(address: IpAddress | None) -> str:
    """What of the address enters the hash: IPv4 whole, IPv6 by its /64 (privacy
    extensions rotate the low 64 bits, so one device would otherwise be many visitors).
    Cached (bounded): the visitor id and the per-address bound both need it."""
    if address is None:
        return "-"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False).network_address) + "/64"
    return str(address)


def visitor_id(salt: bytes, portal: str, address: IpAddress | None, user_agent: str) -> str:
    """The day's pseudonymous visitor id (64 bits, hex)."""
    message = "|".join((portal, network_key(address), user_agent)).encode("utf-8", "replace")
    return hmac.new(salt, message, hashlib.sha256).hexdigest()[:16]


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The local calendar day of an aware datetime."""
    return moment.astimezone(zone).date()
