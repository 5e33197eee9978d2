"""The questionnaire service's use cases, wired (by `bootstrap`) and handed to the entrypoints
as one object: HTTP routes reach each through a typed dependency, the consumer its `following`."""

from __future__ import annotations

from dataclasses import dataclass

from csm_kernel.links import LinkTokens

from .answering import Questionnaires
from .catalogue import DefinitionCatalogue
from .cycles import Cycles
from .following import Following
from .last_year import LastYearsAnswers
from .sandbox import Sandbox
from .sign_off import Returns


@dataclass(frozen=True)
class QuestionnaireService:
    catalogue: DefinitionCatalogue
    questionnaires: Questionnaires
    last_year: LastYearsAnswers
    cycles: Cycles
    returns: Returns
    sandbox: Sandbox
    following: Following
    links: LinkTokens | None
