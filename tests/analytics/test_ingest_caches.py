"""The per-request caches of the ingest path: same answers as the uncached code, bounded."""

from __future__ import annotations

from services.analytics.bots import device_labels, user_agent_reason
from services.analytics.privacy import cached_client_address, client_address, parse_networks

TRUSTED = parse_networks(["127.0.0.0/8", "10.0.0.0/8"])


def test_cached_client_address_agrees_with_the_uncached_one():
    cases = [
        ("5.5.5.5", ("1.1.1.1",)),
        ("127.0.0.1", ("6.6.6.6, 1.1.1.1, 10.1.1.1",)),
        ("127.0.0.1", ("1.1.1.1", "10.0.0.9")),
        ("127.0.0.1", ("[2001:db8::1]:443",)),
        ("127.0.0.1", ("garbage",)),
        ("127.0.0.1", ()),
        (None, ("1.1.1.1",)),
    ]
    for peer, forwarded in cases:
        expected = client_address(peer, list(forwarded), TRUSTED)
        assert cached_client_address(peer, forwarded, TRUSTED) == expected
        assert cached_client_address(peer, forwarded, TRUSTED) == expected  # from the cache


def test_every_per_request_cache_is_bounded():
    for cached in (cached_client_address, user_agent_reason, device_labels):
        maxsize = cached.cache_info().maxsize
        assert maxsize is not None
        assert 0 < maxsize <= 16384
