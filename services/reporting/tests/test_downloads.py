"""`Content-Disposition` per RFC 6266 / RFC 5987, whatever the file name holds (unit tests of
`reporting.entrypoints.http.downloads`)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from reporting.entrypoints.http.downloads import content_disposition

#: What HTTP allows in a field value (RFC 9110: visible ASCII, space and tab), and no more.
_FIELD_VALUE = re.compile(r"[\x20-\x7e]*")


#: The whole header, as RFC 6266 and RFC 5987 spell it: a quoted ASCII fallback, then the
#: UTF-8 name in attr-chars and %XX escapes only.
_SHAPE = re.compile(
    r"attachment; filename=\"(?P<fallback>[^\"\\]*)\"; "
    r"filename\*=UTF-8''(?P<extended>(?:[A-Za-z0-9!#$&+.^_`|~-]|%[0-9A-F]{2})+)"
)


def _parsed(value: str) -> tuple[str, str]:
    """The (filename, filename*) a reader takes from the header, or AssertionError."""
    match = _SHAPE.fullmatch(value)
    assert match, value
    return match["fallback"], unquote(match["extended"], encoding="utf-8", errors="strict")


def test_a_plain_name_has_both_forms() -> None:
    value = content_disposition("locality-profile-2009-10-00AA-20100111T000000Z.csv")
    assert value == (
        'attachment; filename="locality-profile-2009-10-00AA-20100111T000000Z.csv"; '
        "filename*=UTF-8''locality-profile-2009-10-00AA-20100111T000000Z.csv"
    )


def test_a_name_outside_ascii_is_percent_encoded_with_an_ascii_fallback() -> None:
    value = content_disposition("Café £ report.xlsx")
    assert value.startswith('attachment; filename="Cafe_report.xlsx"; ')
    assert value.endswith("filename*=UTF-8''Caf%C3%A9%20%C2%A3%20report.xlsx")
    assert _parsed(value) == ("Cafe_report.xlsx", "Café £ report.xlsx")


@pytest.mark.parametrize(
    "name",
    [
        'a"b.csv',
        'x.csv"; filename="evil.exe',
        "area\r\nSet-Cookie: a=b.csv",
        "../../etc/passwd",
        "\x00\x7f\u2028.csv",
        "report\u202efdp.exe",
        "",
        "日本.xlsx",
    ],
)
def test_no_name_breaks_out_of_the_header(name: str) -> None:
    value = content_disposition(name)
    assert _FIELD_VALUE.fullmatch(value), value
    assert value.count('"') == 2  # the fallback's own quotes and no others
    fallback, extended = _parsed(value)
    assert fallback and re.fullmatch(r"[A-Za-z0-9._-]+", fallback)
    assert not fallback.startswith(".")
    assert extended and "/" not in extended and "\\" not in extended
    assert not any(ch in extended for ch in "\r\n\x00\x7f\u2028\u202e")
