"""Who is the client, and the daily visitor id that never reveals them.

The client address (`services.common.addresses`) comes from the socket; `X-Forwarded-For`
is believed only when the socket peer is a trusted proxy, and then the right-most address
that is not itself a trusted proxy is the client (the left part of the chain is whatever
the client wrote).

visitor id = HMAC-SHA256(salt of the local day, portal | ip (IPv6 by /64) | user agent),
first 16 hex characters. The salt is random (`secrets`), stored only in the analytics
database, replaced at local midnight and deleted after 48 hours, after which nobody (the
operator included) can recompute or link the ids of that day.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

# The address logic is shared with the content service's sign-in throttling.
from services.common.addresses import (
    LOOPBACK,
    IpAddress,
    IpNetwork,
    cached_client_address,
    client_address,
    parse_networks,
)

__all__ = [
    "LOOPBACK",
    "IpAddress",
    "IpNetwork",
    "cached_client_address",
    "client_address",
    "local_day",
    "network_key",
    "parse_networks",
    "visitor_id",
]


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
