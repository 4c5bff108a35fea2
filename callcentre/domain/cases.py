"""Cases: the council's record of a resident's query, which calls are linked to."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from callcentre.errors import InvalidInput

REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.-]{0,39}")
MAX_SUBJECT = 500


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Case:
    ref: str
    subject: str
    status: CaseStatus
    phone: str | None  # the resident's number, E.164
    created_at: datetime
    updated_at: datetime


def check_ref(ref: str) -> str:
    """A council reference: 1-40 letters, digits and / _ . - ; raises InvalidInput otherwise."""
    ref = ref.strip()
    if not REF.fullmatch(ref):
        raise InvalidInput(
            "case reference must be 1-40 characters: letters, digits and / _ . -",
            field="ref",
        )
    return ref


def usable_keyed_ref(value: str | None) -> str | None:
    """CASE_REF as set by the dialplan, or None when the resident skipped or keyed junk."""
    if value is None:
        return None
    value = value.strip()
    if not value or value.upper() == "NONE":
        return None
    return value if REF.fullmatch(value) else None


def new_case(ref: str, subject: str, phone: str | None, at: datetime) -> Case:
    subject = subject.strip()
    if not subject:
        raise InvalidInput("subject must not be empty", field="subject")
    if len(subject) > MAX_SUBJECT:
        raise InvalidInput(f"subject must be at most {MAX_SUBJECT} characters", field="subject")
    return Case(check_ref(ref), subject, CaseStatus.OPEN, phone, at, at)
