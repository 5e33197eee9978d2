"""Files sent as downloads: the one place that writes `Content-Disposition`.

The header follows RFC 6266 with RFC 5987's extended parameter: `attachment;
filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded name>`. Browsers use
`filename*`; the fallback is for those that do not. Whatever `filename` holds, the header can
neither be broken out of (a quote) nor split (CR/LF): the fallback keeps only letters, digits,
`.`, `_` and `-`, and `filename*` percent-encodes everything outside RFC 5987's attr-char. The
callers build names from checked codes anyway; this is the second wall, not the first.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from fastapi.responses import Response

#: RFC 5987 attr-char besides letters and digits: left as they are in `filename*`.
_ATTR_CHAR = "!#$&+-.^_`|~"
#: What the ASCII fallback replaces (everything but a conservative set).
_UNSAFE_IN_FALLBACK = re.compile(r"[^A-Za-z0-9._-]+")


def _harmless(ch: str) -> str:
    # No controls, format characters (a right-to-left override turns "x\u202efdp.exe" into
    # "xexe.pdf" on screen), unassigned code points, line or paragraph separators, or path
    # separators in a saved file's name.
    if ch in "/\\" or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
        return "_"
    return ch


def _fallback(name: str) -> str:
    # "Café" keeps its "e"; characters with no ASCII form become "_".
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem, dot, extension = _UNSAFE_IN_FALLBACK.sub("_", ascii_name).rpartition(".")
    if not dot:
        stem, extension = extension, ""
    stem = stem.strip("._-") or "download"
    return f"{stem}.{extension}" if extension else stem


def content_disposition(filename: str) -> str:
    """The `Content-Disposition` value that offers the body as a file called `filename`."""
    name = "".join(_harmless(ch) for ch in filename).strip(" .") or "download"
    encoded = quote(name, safe=_ATTR_CHAR, encoding="utf-8")
    return f"attachment; filename=\"{_fallback(name)}\"; filename*=UTF-8''{encoded}"


def download(body: bytes, media_type: str, filename: str) -> Response:
    """A response that the browser saves as `filename`."""
    return Response(
        body, media_type=media_type, headers={"Content-Disposition": content_disposition(filename)}
    )
