"""The binary COPY reader across every chunk boundary, and how stream kinds are named."""

from __future__ import annotations

import pytest

from csm_audit.bundle import stream_type
from csm_audit.copy_binary import CopyFormatError, CopyRows

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)


def row(*fields: bytes) -> bytes:
    out = len(fields).to_bytes(2, "big")
    for f in fields:
        out += len(f).to_bytes(4, "big") + f
    return out


ROWS = [
    ((1).to_bytes(8, "big"), b"organisation-5A4", '{"name":"Ffôn ☎"}'.encode()),
    ((2).to_bytes(8, "big"), b"return-2009-10-5A4", b""),
    ((3).to_bytes(8, "big"), b"x" * 300, b'{"big":1e+16}'),
]
STREAM = HEADER + b"".join(row(*r) for r in ROWS) + TRAILER


@pytest.mark.parametrize("size", [1, 2, 3, 7, 19, 20, 64, len(STREAM)])
def test_rows_come_out_whole_whatever_the_chunk_size(size: int) -> None:
    reader = CopyRows(3)
    got = []
    for at in range(0, len(STREAM), size):
        got.extend(reader.feed(STREAM[at : at + size]))
    reader.finish()
    assert got == ROWS


def test_a_cut_stream_and_a_wrong_row_are_refused() -> None:
    reader = CopyRows(3)
    list(reader.feed(STREAM[:-5]))
    with pytest.raises(CopyFormatError, match="ended early"):
        reader.finish()
    with pytest.raises(CopyFormatError, match="a row of 3 fields, expected 2"):
        list(CopyRows(2).feed(STREAM))
    with pytest.raises(CopyFormatError, match="not a binary COPY"):
        list(CopyRows(3).feed(b"x" * 40))


@pytest.mark.parametrize(
    ("stream_id", "kind"),
    [
        ("organisation-5A4", "organisation"),
        ("service-0f9c1a2e-aaaa-bbbb-cccc-0123456789ab", "service"),
        ("mapping-lead-5A4", "mapping-lead"),
        ("service-group-ab12cd34ef56", "service-group"),
        ("return-2009-10-5A4", "return"),
        ("cycle-2009-10", "cycle"),
        ("questionnaire-1b4e28ba-2fa1-11d2-883f-0016d3cca427", "questionnaire"),
        ("plain", "plain"),
    ],
)
def test_stream_kinds(stream_id: str, kind: str) -> None:
    assert stream_type(stream_id) == kind
