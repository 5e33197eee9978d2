"""`python -m csm_audit`, the same as `csm-audit`."""

from .cli import main

main()
