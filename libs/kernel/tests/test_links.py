from pathlib import Path

import pytest

from csm_kernel.links import LinkTokens, ensure_link_key

KEY = b"k" * 32


def test_a_delegation_token_reads_back_as_its_questionnaire_and_delegation() -> None:
    links = LinkTokens(KEY)
    assert links.read_delegation(links.delegation_token("q1", "d1")) == ("q1", "d1")


def test_a_set_up_token_reads_back_and_never_passes_as_a_delegation() -> None:
    links = LinkTokens(KEY)
    token = links.set_up_token("s1")
    assert links.read_set_up(token) == "s1"
    # The same id shape, another purpose: refused.
    forged = links.token("set-up", "q1", "d1")
    assert links.read_delegation(forged) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("q1", "q2", 1),  # another questionnaire
        lambda t: t.replace(".d1.", ".d2."),  # another delegation
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # a forged mac
        lambda t: t.rsplit(".", 1)[0],  # no mac
        lambda t: "",
        lambda t: ".." + t,
    ],
)
def test_a_changed_or_forged_token_is_refused(tamper) -> None:
    links = LinkTokens(KEY)
    assert links.read_delegation(tamper(links.delegation_token("q1", "d1"))) is None


def test_another_key_does_not_accept_the_token() -> None:
    token = LinkTokens(KEY).delegation_token("q1", "d1")
    assert LinkTokens(b"x" * 32).read_delegation(token) is None


def test_bad_keys_and_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        LinkTokens(b"short")
    with pytest.raises(ValueError, match=r"no '\.'"):
        LinkTokens(KEY).delegation_token("q.1", "d1")


def test_the_key_file_is_made_once_private_and_reused(tmp_path: Path) -> None:
    file = ensure_link_key(tmp_path / "keys" / "links.key")
    first = file.read_bytes()
    assert file.stat().st_mode & 0o077 == 0
    assert ensure_link_key(file).read_bytes() == first
    links = LinkTokens.from_file(file)
    assert links.read_set_up(links.set_up_token("abc")) == "abc"


@pytest.mark.parametrize("odd", ["\u00e9t\u00e9", "\ud800", "\u202e"])
def test_a_token_with_characters_no_token_has_is_refused_not_an_error(odd: str) -> None:
    # Tokens are ASCII; hmac.compare_digest raises TypeError on other text, and the ids of a
    # lone surrogate cannot be encoded: a hostile link or set-up token was a 500.
    links = LinkTokens(KEY)
    mac = links.set_up_token("s1").rsplit(".", 1)[1]
    assert links.read_set_up(f"s1.{odd}") is None
    assert links.read_set_up(f"{odd}.{mac}") is None
    assert links.read_delegation(f"q1.d1.{odd}") is None
