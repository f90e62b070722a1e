"""The client address shared by analytics (visitor ids) and content (sign-in throttling)."""

from __future__ import annotations

import ipaddress

import pytest

from services.common.addresses import LOOPBACK, client_address, limit_key, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", *LOOPBACK])


class TestClientAddress:
    def test_the_socket_peer_without_a_proxy(self):
        assert str(client_address("203.0.113.5", ["198.51.100.1"], PROXIES)) == "203.0.113.5"

    def test_behind_trusted_proxies_the_right_most_untrusted_hop(self):
        chain = ["6.6.6.6, 203.0.113.5, 10.0.0.3"]  # the client wrote 6.6.6.6 itself
        assert str(client_address("10.0.0.2", chain, PROXIES)) == "203.0.113.5"

    def test_a_garbled_chain_stops_at_the_last_good_hop(self):
        assert str(client_address("10.0.0.2", ["junk, 10.0.0.4"], PROXIES)) == "10.0.0.4"

    def test_ipv4_mapped_ipv6_is_ipv4(self):
        assert str(client_address("::ffff:203.0.113.5", [], PROXIES)) == "203.0.113.5"


class TestLimitKey:
    @pytest.mark.parametrize(
        ("address", "key"),
        [
            ("203.0.113.5", "203.0.113.5"),
            ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
            ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ],
    )
    def test_ipv4_whole_ipv6_by_its_64(self, address, key):
        assert limit_key(ipaddress.ip_address(address)) == key

    def test_no_address(self):
        assert limit_key(None) == "-"
