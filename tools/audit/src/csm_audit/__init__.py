"""csm-audit: a history an auditor can take away (export a signed bundle, verify it offline)."""
