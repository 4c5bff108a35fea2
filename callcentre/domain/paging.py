"""Where a page of a list ended: the key of its last item, and the opaque token a client
passes back as ``cursor`` for the next page.

A list newest first is ordered by (time, id), and the next page holds the items whose key
is below the last one's (keyset pagination: each page costs the same however deep it is).
The time is carried exactly, as the float the store keeps (written in hex), so a page
never skips or repeats an item that shares its time with another.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from datetime import datetime

from callcentre.errors import InvalidInput

_LARGEST_ID = 2**63 - 1  # SQLite's integers
_LONGEST_TOKEN = 64


@dataclass(frozen=True, slots=True, order=True)
class Keyset:
    at: float  # seconds since the epoch, exactly as stored
    id: int

    @classmethod
    def of(cls, at: datetime, id: int | None) -> Keyset:
        """The key of an item at ``at``: its timestamp, the float storage/db.py keeps."""
        return cls(at.timestamp(), id or 0)

    def token(self) -> str:
        """The cursor clients see: URL-safe and meaningless to them."""
        raw = f"{self.at.hex()}/{self.id}".encode("ascii")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def from_token(cls, token: str, field: str = "cursor") -> Keyset:
        """The key a token of ``token()`` carries; raises InvalidInput for anything else
        (made up, cut short, or a cursor of an earlier version: an id alone)."""
        try:
            if len(token) > _LONGEST_TOKEN:
                raise ValueError(token)
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            at, ident = raw.split("/")
            key = cls(float.fromhex(at), int(ident))
        except ValueError:  # also binascii.Error and UnicodeDecodeError
            key = None
        if key is None or not math.isfinite(key.at) or not 0 < key.id <= _LARGEST_ID \
                or key.token() != token:
            raise InvalidInput(f"{field} is not one this service gave: pass a page's next "
                               "as it is, or start again from the first page", field=field)
        return key
