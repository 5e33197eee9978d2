"""Events the registration service publishes about the directory of services."""

from __future__ import annotations
