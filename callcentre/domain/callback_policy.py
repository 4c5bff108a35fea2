"""The council's callback promise policy, as domain values (scheduler/policy.toml ``[callbacks]``).

callcentre/scheduling/policy.py reads the TOML into this; everything here is
pure and takes the moment as an argument.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callcentre.domain.deadlines import PromiseRule, add_working_time, next_open
from callcentre.domain.hours import OpeningHours


class Source(enum.StrEnum):
    """Where a promise came from. The same names are used in the API, metrics and policy."""

    AGENT = "agent"  # an agent promised it (API or agent page)
    QUEUE_KEYPRESS = "queue_keypress"  # the resident pressed the callback key in the queue
    ABANDONED = "abandoned"  # the resident gave up waiting (with a presentable number)
    OUT_OF_HOURS = "out_of_hours"  # the resident called while the council was closed


class AnswerCheck(enum.StrEnum):
    """How a callback makes sure a person, not a machine, answered. The value is sent to the
    dialplan as CALLBACK_CHECK (dialplans/extensions_callcentre.conf [callcentre-callback])."""

    CONFIRM = "confirm"  # the resident presses 1 before the agent is connected (default)
    MACHINE_DETECTION = "amd"  # Asterisk's AMD(); a MACHINE is hung up on
    NONE = "none"  # anyone who answers is connected; talk time alone decides


@dataclass(frozen=True)
class CallbackPolicy:
    opening: OpeningHours  # working time: deadlines are counted in it
    calling: OpeningHours  # when residents may be called
    promise: Mapping[Source, PromiseRule]
    latest: PromiseRule  # no deadline may be set beyond this from the moment it is set
    retry_spacing: tuple[timedelta, ...]  # wait after the n-th failed attempt; the last repeats
    max_attempts: int
    give_up_after: timedelta  # working time after the deadline when an unreached one is missed
    owner_hold_back: timedelta  # a named owner keeps a due callback until due_by - this
    min_talk: timedelta  # unconfirmed checks: a shorter answered call did not reach them
    check: AnswerCheck  # confirm (only the resident's key 1 counts), amd or none
    abandon_after: timedelta | None  # abandoned calls that waited this long; None: off
    out_of_hours: bool  # calls while closed become callbacks
    cancel_on_call_in: bool  # the resident phoned in and was answered: cancel pending ones
    team_name: str  # who promised automatic callbacks (residents are given a contact name)
    horizon: timedelta  # how far ahead the scheduler holds due moments in memory
    # A call the PBX refused or could not be asked for (trunk down, link lost): retried after
    # refused_retry[0], doubling per refusal in a row up to refused_retry[1], with jitter;
    # it counts against max_attempts only when refused_counts.
    refused_retry: tuple[timedelta, timedelta] = (timedelta(seconds=10), timedelta(minutes=10))
    refused_counts: bool = False
    # Deadlines sized to capacity (domain/promises.py): never earlier than the floor, never
    # later than the ceiling (nor ``latest``); a source without them keeps its fixed rule.
    floor: Mapping[Source, PromiseRule] = field(default_factory=dict)
    ceiling: Mapping[Source, PromiseRule] = field(default_factory=dict)
    confidence: float = 0.0  # how sure a sized deadline is kept; 0: always the fixed rule

    def bounds_for(self, source: Source, at: datetime) -> tuple[datetime, datetime]:
        """The earliest and latest deadline a sized promise from ``source`` at ``at`` may
        have (both the fixed rule's deadline when the source has no floor or ceiling)."""
        fixed = self.due_for(source, at)
        floor = self.floor[source].due(self.opening, at) if source in self.floor else fixed
        ceiling = (self.ceiling[source].due(self.opening, at) if source in self.ceiling
                   else fixed)
        ceiling = min(ceiling, self.latest_due(at))
        return min(floor, ceiling), ceiling

    def due_for(self, source: Source, at: datetime) -> datetime:
        """The deadline the council promises for a request from ``source`` made at ``at``."""
        return self.promise[source].due(self.opening, at)

    def latest_due(self, at: datetime) -> datetime:
        return self.latest.due(self.opening, at)

    def callable_from(self, at: datetime) -> datetime:
        """The first moment at or after ``at`` when the resident may be called."""
        return next_open(self.calling, at)

    def retry_at(self, failed_attempts: int, at: datetime) -> datetime:
        """When to try again after ``failed_attempts`` (>= 1) attempts, the last ending ``at``."""
        spacing = self.retry_spacing[min(failed_attempts, len(self.retry_spacing)) - 1]
        return self.callable_from(at + spacing)

    def refused_retry_after(self, refusals: int, seed: int) -> timedelta:
        """The wait after ``refusals`` (>= 1) refused calls in a row: capped exponential,
        times a jitter in [0.5, 1) drawn from ``seed`` (e.g. the callback's id), so that
        callbacks refused together do not come back together, and tests can know when."""
        first, cap = self.refused_retry
        wait: timedelta = min(cap, first * (2 ** min(refusals - 1, 32)))
        jitter = 0.5 + ((seed * 2654435761 + refusals * 40503) % 1000) / 2000
        return wait * jitter

    def give_up_at(self, due_by: datetime) -> datetime:
        return add_working_time(self.calling, due_by, self.give_up_after)

    def reached(self, answered: timedelta | None, confirmed: bool,
                machine: bool = False) -> bool:
        """Whether an answered call counts as reaching the resident (voicemail must not).

        ``answered``: how long the resident's leg was connected to the agent (None: never).
        With CONFIRM only a confirmed, connected call counts; otherwise a MACHINE never
        counts, and a confirmation or ``min_talk`` of connection does."""
        if answered is None or machine:
            return False
        if confirmed:
            return True
        return self.check is not AnswerCheck.CONFIRM and answered >= self.min_talk
