"""A service's refusal of one field, worded as a GOV.UK error message: what to do, in plain
words, about that field ("Enter the organisation code in the correct format"), rather than the
validator's own text ("String should match pattern '^[A-Z0-9]*$'")."""

from __future__ import annotations

import re

#: (the validator's words, what to say) - the message given the field's label in lower case
#: (`what`), in sentence case (`label`) and the number the validator named (`n`).
_SAYINGS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), saying)
    for pattern, saying in (
        (r"^(field required|required|missing)$", "Enter {what}"),
        (r"^string should match pattern", "Enter {what} in the correct format"),
        (
            r"^string should have at least (\d+) characters?",
            "{label} must be {n} characters or more",
        ),
        (
            r"^string should have at most (\d+) characters?",
            "{label} must be {n} characters or fewer",
        ),
        (
            r"not a valid email address|^value is not a valid email",
            "Enter an email address in the correct format, like name@example.com",
        ),
        (r"^input should be a valid integer", "{label} must be a whole number"),
        (r"^input should be a valid (number|decimal)", "{label} must be a number"),
        (r"^input should be greater than or equal to (-?[\d.]+)", "{label} must be {n} or more"),
        (r"^input should be greater than (-?[\d.]+)", "{label} must be more than {n}"),
        (r"^input should be less than or equal to (-?[\d.]+)", "{label} must be {n} or less"),
        (r"^input should be less than (-?[\d.]+)", "{label} must be less than {n}"),
        (r"^input should be ('[^']*'(, | or )?)+$", "Select {what}"),
        (r"^input should be a valid (date|datetime)", "Enter {what} as a real date"),
    )
)


def field_message(label: str | None, reason: str) -> str:
    """The message for a refused field: GOV.UK's words where the validator's are known, else
    the reason itself (after the label when there is one)."""
    reason = reason.strip().rstrip(".")
    if reason.lower().startswith("value error, "):
        reason = reason[len("value error, ") :]
    for pattern, saying in _SAYINGS:
        m = pattern.search(reason)
        if m is None:
            continue
        if label is None and "{" in saying.replace("{n}", ""):
            return "Enter the missing information" if saying == "Enter {what}" else _capital(reason)
        n = m.group(1) if m.groups() else ""
        return saying.format(what=label.lower() if label else "", label=label or "", n=n)
    reason = _capital(reason)
    return f"{label}: {reason}" if label else reason


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
