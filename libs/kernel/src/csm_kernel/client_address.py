"""The network address of the person behind a request that reaches a service through the portal.

A service sees the portal's address on every call the portal makes for a person. Where a
service needs the person's own address (registration counts failed sign-ins per email address
*and client*, so that a stranger cannot lock a person out from elsewhere), the portal says it
in `X-CSM-Client` and vouches for it in `X-CSM-Client-Proof`: an HMAC-SHA256 of the value
under a key that only the portal and that service hold (`CSM_PORTAL_KEY_FILE`). A value
without a good proof is ignored and the connection's own address is used, so no caller can
choose the address it is counted under.

The proof is not a credential: it names one address, and whoever could read it off the
internal network could read the password in the same request. It only keeps a caller that
does not hold the key from speaking for someone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path

#: The person's address, as the portal saw it.
CLIENT_HEADER = "x-csm-client"
#: HMAC-SHA256 of that address under the portal key (base64url, unpadded).
PROOF_HEADER = "x-csm-client-proof"
#: Longer than any IPv6 address in text form with a zone: anything longer is not an address.
MAX_ADDRESS_LENGTH = 64


class ClientProof:
    """Makes (the portal) and checks (a service) the proof of a person's address."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a portal key needs at least 32 bytes")
        self._key = key

    @classmethod
    def from_file(cls, file: Path) -> ClientProof:
        """Proofs keyed by the contents of a key file (`csm_kernel.links.ensure_link_key`
        makes one)."""
        return cls(file.read_bytes().strip())

    def _mac(self, address: str) -> str:
        digest = hmac.new(self._key, b"client\n" + address.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def headers(self, address: str) -> dict[str, str]:
        """The headers that tell a service the person's address."""
        return {CLIENT_HEADER: address, PROOF_HEADER: self._mac(address)}

    def vouched(self, headers: Mapping[str, str]) -> str | None:
        """The address the headers name, if their proof is good; otherwise None."""
        address = headers.get(CLIENT_HEADER)
        proof = headers.get(PROOF_HEADER)
        if not address or not proof or len(address) > MAX_ADDRESS_LENGTH:
            return None
        if not hmac.compare_digest(proof.encode(), self._mac(address).encode()):
            return None
        return address
