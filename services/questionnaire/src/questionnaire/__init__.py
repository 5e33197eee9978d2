"""CSM questionnaire service: cycles, questionnaires, delegation, submission and sign-off."""
