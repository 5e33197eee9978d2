"""Every event payload, by publishing service. Importing this package registers them all."""

from . import accounts, cycles, directory, notifications, responses  # noqa: F401  (register)
from .questionnaire import (
    CycleSignedOff,
    NI51AreaScore,
    QuestionnaireDelegated,
    ResponseSubmitted,
    Scorecard,
)
from .registration import OrganisationKind, OrganisationRegistered, Region
from .responses import QuestionnaireLocked, QuestionnaireUnlocked

__all__ = [
    "CycleSignedOff",
    "NI51AreaScore",
    "OrganisationKind",
    "OrganisationRegistered",
    "QuestionnaireDelegated",
    "QuestionnaireLocked",
    "QuestionnaireUnlocked",
    "Region",
    "ResponseSubmitted",
    "Scorecard",
]
