"""The questionnaire's own counters on the service's `/metrics` (the `Activity` port), in the
registry the kernel serves (`runtime.metrics.registry`). Names as the dashboard and the alerts
expect them (docs/observability.md); no labels, so a series per counter."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class PrometheusActivity:
    """Answers saved, questionnaires submitted and returns signed off by this process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # prometheus_client adds the `_total` of a counter's samples itself.
        self._saves = Counter(
            "csm_questionnaire_saves", "Saves of answers committed", registry=registry
        )
        self._submissions = Counter(
            "csm_questionnaire_submissions", "Questionnaires submitted", registry=registry
        )
        self._signoffs = Counter(
            "csm_questionnaire_signoffs", "Organisations' returns signed off", registry=registry
        )

    def saved(self) -> None:
        self._saves.inc()

    def submitted(self) -> None:
        self._submissions.inc()

    def signed_off(self) -> None:
        self._signoffs.inc()
