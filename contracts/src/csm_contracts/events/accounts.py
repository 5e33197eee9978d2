"""Events the registration service publishes about mapping leads, accounts and roles.

No password, token or set-up link ever goes into one of these.
"""

from __future__ import annotations
