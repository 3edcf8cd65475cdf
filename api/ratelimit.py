"""Token buckets per client: the clock is passed in, so tests can freeze it.

The gateway keeps one ``TokenBucket`` per budget (``Budgets``): public reads and verification, sign-in,
refused requests (per client address) and signed-in calls (per department), so junk on one budget never spends
another's. Each bucket holds at most ``max_clients`` entries and evicts the least recently used one beyond that,
so a flood of addresses costs bounded memory (an evicted client only starts again with a full bucket).
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

MAX_CLIENTS = 100_000


class RateLimited(Exception):
    def __init__(self, retry_after: int, what: str = "requests from this address") -> None:
        self.retry_after = retry_after
        super().__init__(f"too many {what}; retry after {retry_after} s")


@dataclass
class TokenBucket:
    burst: int
    per_second: float
    what: str = "requests from this address"
    max_clients: int = MAX_CLIENTS
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)  # client -> (tokens, at)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def take(self, client: str, now: datetime) -> None:
        """Spend one token of ``client``'s bucket or raise RateLimited with the seconds until one is back."""
        self.take_at(client, now.timestamp())

    def take_at(self, client: str, t: float) -> None:
        """:meth:`take` at the POSIX instant ``t`` (``now.timestamp()``)."""
        buckets = self._buckets
        burst = float(self.burst)
        with self._guard:
            # min(burst, tokens + max(0.0, t - last) * per_second), written out: no default tuple, no builtin call
            # (the busiest route takes a token per request); the same value, NaN included (min and max keep their
            # first argument unless the second compares below, above); a new client starts full
            held = buckets.get(client)
            if held is None:
                tokens = burst
            else:
                tokens, last = held
                elapsed = t - last
                refilled = tokens + (elapsed if elapsed > 0.0 else 0.0) * self.per_second
                tokens = refilled if refilled < burst else burst
            spent = tokens >= 1.0
            buckets[client] = (tokens - 1.0 if spent else tokens, t)
            buckets.move_to_end(client)
            while len(buckets) > self.max_clients:
                buckets.popitem(last=False)  # the least recently seen client
        if not spent:
            raise RateLimited(max(1, math.ceil((1.0 - tokens) / self.per_second)), self.what)

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(frozen=True)
class Budgets:
    public: TokenBucket
    signin: TokenBucket
    refused: TokenBucket
    authenticated: TokenBucket


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.1, 10.1.0.0/16"`` -> networks; ValueError names an entry that is not an address or network."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"{item!r} in LEDGER_API_TRUSTED_PROXIES is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)"
            ) from None
        if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_WELL_KNOWN_NAT64):
            # a proxy written as its translated address: matched as the IPv4 address its peers are read as (_ip)
            network = ipaddress.ip_network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
        networks.append(network)
    return tuple(networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``text`` names; an IPv4-mapped IPv6 address (``::ffff:198.51.100.7``: how a dual-stack socket,
    or a proxy listening on one, writes an IPv4 client) as the IPv4 address it carries. Keyed as IPv6, every IPv4
    client would share the /64 ``::/64``, one budget for all of them. A port after the address, as some proxies
    write a hop (``198.51.100.7:50123``, ``[2001:db8::7]:443``, ``[2001:db8::7]``: Azure Application Gateway),
    is set aside: read as garbage, every client's hop left them all keyed on the proxy, one budget for everyone
    (red team round 34b). An address of RFC 6052's well-known translation prefix (``64:ff9b::198.51.100.7``) or of
    Teredo is the IPv4 address it carries too (red team round 51)."""
    text = text.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        host, colon, port = text.rpartition(":")
        if text.startswith("[") and (
            text.endswith("]") or (colon and host.endswith("]") and port.isascii() and port.isdigit())
        ):
            host = text[1 : text.index("]")]  # [IPv6] or [IPv6]:port
        elif not (colon and port.isascii() and port.isdigit() and host.count(":") == 0):
            return None  # no address, and no IPv4 address with a port
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
    if address.version == 4:
        return address
    if address in _WELL_KNOWN_NAT64:  # an IPv4 client shown by a stateless translator (red team round 51)
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    teredo = address.teredo
    return address.ipv4_mapped or (teredo[1] if teredo is not None else address)


# RFC 6052's well-known prefix: a translator (SIIT-DC, RFC 7755; NAT64) in front of a gateway reached over IPv6 only
# shows each IPv4 client as this prefix and its address. Keyed by /64, every such client shared one budget, as every
# Teredo client of one Teredo server did (``2001:0:<server>::/64``): each is keyed as the IPv4 address it carries.
_WELL_KNOWN_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def client_key(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The address a client's budgets are keyed on: the connection's peer, unless the peer is a trusted proxy,
    then the right-most ``X-Forwarded-For`` hop that is not a trusted proxy (hops to its left were written by the
    client and are not believed). IPv6 clients are keyed by their /64 (one subscriber's addresses)."""
    address = _ip(peer)
    if trusted and forwarded_for and address is not None and any(address in n for n in trusted):
        for hop in reversed(forwarded_for.split(",")):
            hop_address = _ip(hop)
            if hop_address is None:
                break  # garbage from here on: keep the last proxy we trust
            address = hop_address
            if not any(hop_address in n for n in trusted):
                break
    if address is None:
        return peer
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
