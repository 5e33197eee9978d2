"""What the bulk imports' routes (organisations, services) share about an uploaded file."""

from __future__ import annotations

from csm_kernel.errors import CSMError


class UnsupportedMediaType(CSMError):
    """A body of a type the endpoint does not read (415)."""

    status_code = 415
