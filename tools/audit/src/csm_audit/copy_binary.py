"""Rows out of PostgreSQL's binary COPY format, as it arrives in chunks of any size.

The format (PostgreSQL docs, "COPY ... Binary Format"): an 11-byte signature, a 32-bit flags
field and a 32-bit header-extension length (then the extension); then each tuple is a 16-bit
field count followed, per field, by a 32-bit length (-1 for NULL) and that many bytes; a field
count of -1 ends the data. Integers are big-endian; `int8`/`int4` values come as 8/4 bytes and
text as its UTF-8 bytes.
"""

from __future__ import annotations

from collections.abc import Iterator

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


class CopyFormatError(ValueError):
    """The bytes are not a well-formed binary COPY stream."""


class CopyRows:
    """Feed chunks in order; each `feed` yields the tuples completed so far."""

    def __init__(self, fields: int) -> None:
        self.fields = fields
        self._buffer = b""
        self._header_done = False
        self.ended = False

    def feed(self, chunk: bytes) -> Iterator[tuple[bytes, ...]]:
        buf = self._buffer + chunk if self._buffer else chunk
        at = 0
        end = len(buf)
        if not self._header_done:
            if end < 19:
                self._buffer = buf
                return
            if buf[:11] != _SIGNATURE:
                raise CopyFormatError("not a binary COPY stream")
            extension = int.from_bytes(buf[15:19], "big")
            if end < 19 + extension:
                self._buffer = buf
                return
            at = 19 + extension
            self._header_done = True
        n = self.fields
        while at + 2 <= end:
            count = int.from_bytes(buf[at : at + 2], "big", signed=True)
            if count == -1:
                self.ended = True
                at += 2
                break
            if count != n:
                raise CopyFormatError(f"a row of {count} fields, expected {n}")
            pos = at + 2
            values = []
            for _ in range(n):
                if pos + 4 > end:
                    break
                length = int.from_bytes(buf[pos : pos + 4], "big", signed=True)
                pos += 4
                if length < 0:
                    raise CopyFormatError("an unexpected NULL")
                if pos + length > end:
                    break
                values.append(buf[pos : pos + length])
                pos += length
            if len(values) < n:
                break  # the rest of this row is in the next chunk
            at = pos
            yield tuple(values)
        self._buffer = buf[at:]

    def finish(self) -> None:
        """Check the stream ended where it should (the trailer, nothing after it)."""
        if not self.ended or self._buffer:
            raise CopyFormatError("the COPY stream ended early")
