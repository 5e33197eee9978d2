from pathlib import Path

import pytest

from csm_kernel.delegation import DelegationLinks, ensure_delegation_key

KEY = b"k" * 32


def test_a_token_reads_back_as_its_questionnaire_and_delegation() -> None:
    links = DelegationLinks(KEY)
    token = links.token("q1", "d1")
    assert links.read(token) == ("q1", "d1")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("q1", "q2", 1),  # another questionnaire
        lambda t: t.replace(".d1.", ".d2."),  # another delegation
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # a forged mac
        lambda t: t.rsplit(".", 1)[0],  # no mac
        lambda t: "",
    ],
)
def test_a_changed_or_forged_token_is_refused(tamper) -> None:
    links = DelegationLinks(KEY)
    assert links.read(tamper(links.token("q1", "d1"))) is None


def test_another_key_does_not_accept_the_token() -> None:
    assert DelegationLinks(b"x" * 32).read(DelegationLinks(KEY).token("q1", "d1")) is None


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DelegationLinks(b"short")


def test_the_key_file_is_made_once_private_and_reused(tmp_path: Path) -> None:
    file = ensure_delegation_key(tmp_path / "keys" / "delegation.key")
    first = file.read_bytes()
    assert file.stat().st_mode & 0o077 == 0
    assert ensure_delegation_key(file).read_bytes() == first
    links = DelegationLinks.from_file(file)
    assert links.read(links.token("a", "b")) == ("a", "b")
