"""Phone numbers: normalised with ``phonenumbers``, masked whenever they are logged.

Numbers are personal data: they are stored (the council needs them to call back)
but never appear in metric labels, and logs only ever show ``mask()``.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from callcentre.errors import InvalidInput

# What PBXs and carriers present when the caller withheld their number.
_WITHHELD = frozenset({"", "<unknown>", "unknown", "anonymous", "restricted", "private",
                       "unavailable", "withheld"})


def normalise(raw: str | None, region: str) -> str | None:
    """E.164 for a presentable number, None when withheld or not a possible number.

    Numbers that are the right length but not allocated (e.g. Ofcom's drama range
    07700 900xxx) are kept: they are real enough to call back in a test system.
    """
    if raw is None or raw.strip().lower() in _WITHHELD:
        return None
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
    except NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(parsed) != ValidationResult.IS_POSSIBLE:
        return None
    return str(phonenumbers.format_number(parsed, PhoneNumberFormat.E164))


def require(raw: str, region: str, field: str = "phone") -> str:
    """Normalise a number given through the API; raises InvalidInput saying why it is unusable."""
    number = normalise(raw, region)
    if number is None:
        raise InvalidInput(f"{raw!r} is not a phone number we can call", field=field)
    return number


def mask(number: str | None) -> str:
    """``+447700900123`` -> ``+44770*****23``: enough to tell calls apart in a log, no more."""
    if not number:
        return "-"
    keep_head = min(4, max(1, len(number) - 4))
    return number[:keep_head] + "*" * max(0, len(number) - keep_head - 2) + number[-2:]
