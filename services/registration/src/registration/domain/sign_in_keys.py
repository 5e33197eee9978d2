"""What sign-in failures are counted under: keyed hashes of the email address and the client.

The counters hold no email address and no network address in clear. They must exist for
addresses nobody has an account for (or the lockout itself would tell which addresses have
one), so in clear they would be a list of every address anyone typed, mistyped or tried (and,
now and then, a password typed into the email box), and of who typed it from where: personal
data about people with no account, of no use to us once the counts expire. A keyed hash
(HMAC-SHA256 under a secret the service holds) counts just as well; a plain hash would not
hide them, since likely addresses are easy to list and hash. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

#: IPv6 hosts usually get a /64 to themselves: counting each address of it apart would let
#: one client be 2^64 clients.
IPV6_CLIENT_PREFIX = 64


def normalised_address(email: str) -> str:
    """The form two spellings of one address share (accounts are unique by lower(email))."""
    return email.strip().lower()


def client_network(client: str) -> str:
    """The network a client address stands for: itself for IPv4, its /64 for IPv6; anything
    that is not an address (a test client, "unknown") as it is."""
    try:
        ip = ipaddress.ip_address(client.strip())
    except ValueError:
        return client.strip()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


@dataclass(frozen=True)
class SignInKeys:
    """Keyed hashes for the sign-in counters. Every replica must share the key (bootstrap
    derives it from the service's signing key); the default, a random one, suits one process."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @classmethod
    def derived_from(cls, secret: bytes) -> SignInKeys:
        """A key of its own for this purpose, from a secret the service already holds."""
        return cls(hmac.new(secret, b"csm registration sign-in counters", hashlib.sha256).digest())

    def _mac(self, kind: str, value: str) -> str:
        return hmac.new(self.key, f"{kind}\n{value}".encode(), hashlib.sha256).hexdigest()

    def address(self, email: str) -> str:
        """The key an email address's failures are counted under."""
        return self._mac("address", normalised_address(email))

    def client(self, network_address: str) -> str:
        """The key of a client known by its network address."""
        return self._mac("client", client_network(network_address))

    def device(self, device_hash: str) -> str:
        """The key of a client known as a trusted device (by its token's hash)."""
        return self._mac("device", device_hash)

    def link_client(self, network_address: str) -> str:
        """The key a client's requests for emailed links are counted under."""
        return self._mac("link-client", client_network(network_address))

    def successor(self, refresh_token: str) -> str:
        """The refresh token that replaces this one. Derived, not random, so that requests
        racing each other with one token (two tabs, a re-render and a Save) are all given the
        same successor without any refresh token ever being stored in clear; only a holder of
        the key can derive it, and it is as unguessable as the token it replaces."""
        mac = hmac.new(self.key, f"refresh-successor\n{refresh_token}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
