"""The questionnaire service's refusals, as the kernel's error kinds (one HTTP mapping)."""

from __future__ import annotations

from csm_kernel.errors import Conflict


class ReturnLocked(Conflict):
    """The return may not change now: before data entry, after the close, or signed off."""


class WrongState(Conflict):
    """The questionnaire is not in a state that allows this (e.g. already submitted)."""
