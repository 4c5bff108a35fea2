"""Phone numbers as the services see them: masked whenever logged, required where callable.

Normalising needs ``phonenumbers`` and the council's default region, so it comes in as a
``Normaliser`` (ports/; callcentre/phones.py makes one). Numbers are personal data: they
are stored (the council needs them to call back) but never appear in metric labels, and
logs only ever show ``mask()``.
"""

from __future__ import annotations

from collections.abc import Callable

from callcentre.errors import InvalidInput


def mask(number: str | None) -> str:
    """``+447700900123`` -> ``+44770*****23``: enough to tell calls apart in a log, no more."""
    if not number:
        return "-"
    keep_head = min(4, max(1, len(number) - 4))
    return number[:keep_head] + "*" * max(0, len(number) - keep_head - 2) + number[-2:]


def require(raw: str, normalise: Callable[[str | None], str | None], field: str = "phone") -> str:
    """Normalise a number given through the API; raises InvalidInput saying why it is unusable."""
    number = normalise(raw)
    if number is None:
        raise InvalidInput(f"{raw!r} is not a phone number we can call", field=field)
    return number
