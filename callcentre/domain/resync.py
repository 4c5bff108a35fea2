"""What a resync after each (re)connect found, as domain events every consumer shares.

The AMI adapter (callcentre/ami/resync.py) publishes ``ResyncStarted`` once the PBX is
fully booted, then asks it once what is live and publishes ``Resynced``. The call log
closes the calls that ended while unseen and adopts the ones it never saw start; the
callback dialler seeds the agent board and resolves attempts left dialling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from callcentre.domain.callback_events import MemberChanged
from callcentre.domain.calls import Call


@dataclass(frozen=True, slots=True)
class ResyncStarted:
    """Asked from now on: a call that was in progress before this is compared with ``Resynced``."""

    at: datetime
    site: str = ""  # the site's prefix in call ids (domain/sites.py); "" for the first PBX


@dataclass(frozen=True, slots=True)
class Resynced:
    at: datetime
    channels: int  # live channels (CoreShowChannel entries)
    live_linkedids: frozenset[str]  # contacts that still have a channel
    channel_ids: frozenset[str]  # every live channel's Uniqueid and Linkedid
    adoptable: tuple[Call, ...]  # live inbound caller legs, as calls (maybe never seen start)
    members: tuple[MemberChanged, ...]  # every queue member's state now
    site: str = ""  # as ResyncStarted's
