"""Phone numbers: the adapter of ``phonenumbers`` (E.164 for the council's default region).

``normaliser(region)`` is the ``Normaliser`` the services and the AMI translator are given;
masking and "a number we can call" are pure and live in callcentre/domain/numbers.py.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from callcentre.domain import numbers
from callcentre.domain.numbers import mask
from callcentre.ports import Normaliser

__all__ = ["mask", "normalise", "normaliser", "require"]

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


def normaliser(region: str) -> Normaliser:
    """``normalise`` with the region fixed: what services and the translator are given."""
    def normalise_in_region(raw: str | None) -> str | None:
        return normalise(raw, region)

    return normalise_in_region


def require(raw: str, region: str, field: str = "phone") -> str:
    """Normalise a number given through the API; raises InvalidInput saying why it is unusable."""
    return numbers.require(raw, normaliser(region), field)
