"""The keys that sign the public topic: the JWK Set anyone may fetch, and the operator's
`signing-keys` commands, whose rotation the running service follows without a restart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from csm_kernel.signing import KeyRing, verify_detached


def signing_keys(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "csm-questionnaire"
    return subprocess.run(
        [str(exe), "signing-keys", *args],
        env={"CSM_SIGNING_KEY_DIR": str(directory), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_jwks_is_public_cached_and_follows_a_rotation(questionnaire_app) -> None:
    async with questionnaire_app("q_jwks") as q:
        directory = q.app.state.signing_keys.directory
        first = KeyRing.load(directory)  # made when the service started
        r = await q.client.get("/.well-known/jwks.json")  # no account needed
        assert r.status_code == 200
        assert r.headers["cache-control"] == "public, max-age=300"
        assert r.json() == first.jwks()
        [key] = r.json()["keys"]
        assert [key[k] for k in ("kty", "crv", "alg", "use")] == ["OKP", "Ed25519", "EdDSA", "sig"]
        again = await q.client.get(
            "/.well-known/jwks.json", headers={"if-none-match": r.headers["etag"]}
        )
        assert again.status_code == 304 and not again.content

        listed = signing_keys(directory, "list")
        assert listed.returncode == 0 and listed.stdout == f"{first.active_kid}  active\n"
        rotated = signing_keys(directory, "rotate")
        assert rotated.returncode == 0, rotated.stderr
        new_kid = KeyRing.load(directory).active_kid
        assert new_kid in rotated.stdout and new_kid != first.active_kid

        # The running service signs with the new key and publishes both, without a restart.
        r = await q.client.get(
            "/.well-known/jwks.json", headers={"if-none-match": r.headers["etag"]}
        )
        assert r.status_code == 200
        assert [k["kid"] for k in r.json()["keys"]] == [new_kid, first.active_kid]
        signature = q.app.state.signing_keys.ring().sign(b"{}")
        assert verify_detached(signature, b"{}", r.json()) == new_kid

        # The active key cannot be retired; an old one can, when the operator says so.
        refused = signing_keys(directory, "retire", "--", new_kid)
        assert refused.returncode == 1 and "rotate before retiring" in refused.stdout
        retired = signing_keys(directory, "retire", "--", first.active_kid)
        assert retired.returncode == 0, retired.stdout
        r = await q.client.get("/.well-known/jwks.json")
        assert [k["kid"] for k in r.json()["keys"]] == [new_kid]
        unknown = signing_keys(directory, "retire", "--", first.active_kid)
        assert unknown.returncode == 1 and "no published key" in unknown.stdout


def test_listing_an_empty_directory_says_there_are_no_keys(tmp_path: Path) -> None:
    listed = signing_keys(tmp_path, "list")
    assert listed.returncode == 1 and "no signing keys" in listed.stdout
