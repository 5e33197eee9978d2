"""Every questionnaire definition the service ships, checked when the service starts.

Instances pin the `id@version` they were issued with, so a new version of a file affects only
questionnaires issued after it; old versions stay loadable for the instances that use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources

from csm_kernel.errors import NotFound

from ..domain.definition import Definition, DefinitionKind, load_definition


class DefinitionCatalogue:
    """Definitions by `id@version`, and the latest of each kind."""

    def __init__(self, definitions: Iterable[Definition]) -> None:
        self._by_ref: dict[str, Definition] = {}
        self._latest: dict[DefinitionKind, Definition] = {}
        for d in definitions:
            if d.ref in self._by_ref:
                raise ValueError(f"definition {d.ref} is defined twice")
            self._by_ref[d.ref] = d
            current = self._latest.get(d.kind)
            if current is None or d.version > current.version:
                self._latest[d.kind] = d

    @classmethod
    def shipped(cls) -> DefinitionCatalogue:
        """The YAML files in `questionnaire/definitions` (a bad one stops the service)."""
        folder = resources.files("questionnaire.definitions")
        files = sorted(
            (f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name
        )
        return cls(load_definition(f) for f in files)

    def get(self, ref: str) -> Definition:
        """A definition by `id@version`, or by `id` for its latest version."""
        if ref in self._by_ref:
            return self._by_ref[ref]
        versions = [d for d in self._by_ref.values() if d.id == ref]
        if versions:
            return max(versions, key=lambda d: d.version)
        raise NotFound(f"no questionnaire definition {ref}")

    def latest(self, kind: DefinitionKind) -> Definition:
        return self._latest[kind]

    def all(self) -> list[Definition]:
        return sorted(self._by_ref.values(), key=lambda d: (d.id, d.version))


_SHIPPED: DefinitionCatalogue | None = None


def shipped_catalogue() -> DefinitionCatalogue:
    """The shipped catalogue, loaded once per process."""
    global _SHIPPED
    if _SHIPPED is None:
        _SHIPPED = DefinitionCatalogue.shipped()
    return _SHIPPED
