"""The definitions, and the sandbox anyone can try at any time: it renders the answers it is
sent through the same rules a saved questionnaire uses, saves nothing and emits no event, and
lists any bad answer in `errors` (the rest still count)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..domain import answers as rules
from ..domain.answers import AnswerError
from .catalogue import DefinitionCatalogue
from .views import render


class Sandbox:
    def __init__(self, catalogue: DefinitionCatalogue) -> None:
        self.catalogue = catalogue

    def definitions(self) -> list[dict[str, Any]]:
        """Every definition: `id@version`, kind, title and how many questions."""
        return [
            {
                "ref": d.ref,
                "id": d.id,
                "version": d.version,
                "kind": d.kind.value,
                "title": d.title,
                "questions": len(d.questions),
            }
            for d in self.catalogue.all()
        ]

    def blank(self, ref: str) -> dict[str, Any]:
        """A definition rendered with no answers (`id` for its latest version)."""
        return render(self.catalogue.get(ref), {})

    def try_answers(self, ref: str, answers: Mapping[str, Any], area: str) -> dict[str, Any]:
        """The definition rendered with `answers`, NI 51 for `area`, and the bad answers."""
        definition = self.catalogue.get(ref)
        errors: list[dict[str, str]] = []
        changes = dict(answers)
        # Bad answers are set aside and the rest tried again, so one bad value does not hide
        # what the others show.
        while True:
            try:
                applied, _ = rules.apply(definition, {}, changes)
                break
            except AnswerError as exc:
                errors.extend(p.as_dict() for p in exc.problems)
                for p in exc.problems:
                    changes.pop(p.question, None)
        out = render(definition, applied)
        score = rules.ni51(definition, area, applied)
        out["ni51"] = score.model_dump() if score else None
        out["errors"] = errors
        out["saved"] = False
        return out
