"""Reporting: read models (projections) built from every other service's events."""
