"""A service record's form, shared by adding a service and revising one: its fields, the
portal's own checks, and the record the registration service wants."""

from __future__ import annotations

from starlette.datastructures import FormData

from ...application.models import JsonObject, ServiceRecord
from ...application.numbers import whole_number
from .forms import text
from .rendering import FormErrors

SERVICE_TYPES = [
    ("universal", "Universal", "Open to every child, for example health visiting"),
    ("targeted", "Targeted", "For children with additional needs"),
    ("specialist", "Specialist", "For children with complex or acute needs"),
]

#: The registration service's field names (its 422 `details[].field`) -> (form field, label).
FIELDS = {
    "cycle": ("name", "Cycle"),
    "name": ("name", "Service name"),
    "description": ("description", "Description"),
    "service_type": ("service_type", "Type of service"),
    "client_group.age_min": ("age_min", "Youngest age"),
    "client_group.age_max": ("age_max", "Oldest age"),
    "client_group": ("age_min", "Ages"),
    "camhs": ("camhs", "CAMHS"),
    "camhs_tier": ("camhs_tier", "CAMHS tier"),
    "group_id": ("group_id", "Service group"),
    "provider_id": ("name", "Provider"),
    "contact.name": ("contact_name", "Contact name"),
    "contact.email": ("contact_email", "Contact email address"),
    "contact.phone": ("contact_phone", "Contact telephone"),
    "contact": ("contact_name", "Contact"),
}

#: How each field of a record is named to people, for "what changed since last year".
LABELS = {
    "name": "Name",
    "description": "Description",
    "service_type": "Type of service",
    "client_group.age_min": "Youngest age",
    "client_group.age_max": "Oldest age",
    "client_group.needs": "Needs",
    "camhs": "CAMHS",
    "camhs_tier": "CAMHS tier",
    "group_id": "Service group",
    "provider_id": "Provider",
    "commissioner_ids": "Commissioners",
    "contact.name": "Contact name",
    "contact.email": "Contact email address",
    "contact.phone": "Contact telephone",
    "status": "Status",
}


def check(form: FormData) -> FormErrors:
    """What the portal can tell without asking: missing fields, ages that are not numbers."""
    errors = FormErrors()
    required = (
        ("name", "Enter the service's name"),
        ("service_type", "Select the type of service"),
        ("age_min", "Enter the youngest age the service is for"),
        ("age_max", "Enter the oldest age the service is for"),
        ("contact_name", "Enter the name of someone to contact about the service"),
        ("contact_email", "Enter the contact's email address"),
    )
    for fid, message in required:
        if not text(form, fid):
            errors.add(fid, message)
    for fid in ("age_min", "age_max"):
        if text(form, fid) and not text(form, fid).isdigit():
            errors.add(fid, "Enter the age as a whole number of years, like 5")
    if text(form, "camhs") == "yes" and not text(form, "camhs_tier"):
        errors.add("camhs_tier", "Select the CAMHS tier")
    return errors


def _int(value: str) -> int | str:
    number = whole_number(value)
    return number if number is not None and number >= 0 else value


def record_of(form: FormData) -> JsonObject:
    """The form as the fields of a service record (`POST /directory/services`'s shape)."""
    camhs = text(form, "camhs") == "yes"
    return {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "service_type": text(form, "service_type"),
        "client_group": {
            "age_min": _int(text(form, "age_min")),
            "age_max": _int(text(form, "age_max")),
        },
        "camhs": camhs,
        "camhs_tier": _int(text(form, "camhs_tier")) if camhs else None,
        "group_id": text(form, "group_id") or None,
        "contact": {
            "name": text(form, "contact_name"),
            "email": text(form, "contact_email"),
            "phone": text(form, "contact_phone") or None,
        },
    }


def form_of_record(record: ServiceRecord) -> dict[str, str]:
    """A record (`GET /directory/services/{id}`) as the form's values."""
    client, contact = record.client_group, record.contact
    return {
        "name": record.name or "",
        "description": record.description or "",
        "service_type": record.service_type or "",
        "age_min": "" if client.age_min is None else str(client.age_min),
        "age_max": "" if client.age_max is None else str(client.age_max),
        "camhs": "yes" if record.camhs else "no",
        "camhs_tier": str(record.camhs_tier) if record.camhs_tier else "",
        "group_id": record.group_id or "",
        "contact_name": contact.name or "",
        "contact_email": contact.email or "",
        "contact_phone": contact.phone or "",
    }


def revision(record: ServiceRecord, form: FormData) -> JsonObject:
    """Only what the form changes in the record, as `PATCH /directory/services/{id}` wants
    it (a change to a nested field sends just that field)."""
    before, after = record_of_values(form_of_record(record)), record_of(form)
    out: JsonObject = {}
    for key, value in after.items():
        if isinstance(value, dict):
            inner = {k: v for k, v in value.items() if before[key].get(k) != v}
            if inner:
                out[key] = inner
        elif before.get(key) != value:
            out[key] = value
    if "group_id" not in form:
        # The form asks for a group only when the organisation has some: no question, no change.
        out.pop("group_id", None)
    return out


def record_of_values(shown: dict[str, str]) -> JsonObject:
    return record_of(FormData(list(shown.items())))
