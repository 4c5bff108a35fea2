"""Telephone service standards: the figures a council publishes, from finished calls.

Pure. The storage adapter aggregates calls into ``Figures`` (per day, or any slice);
``summarise`` turns merged figures into the published numbers. Waits are kept as
whole-second buckets: bucket k holds waits in (k-1, k], so "answered within T" is
exact for whole-second T (the thresholds are whole seconds), and the 90th
percentile is given to the second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# a resident who left with a key (e.g. for a callback) was offered and is counted: it does
# not flatter the answer rate
OFFERED_OUTCOMES = ("answered", "abandoned", "timeout", "exit_with_key", "exit_empty",
                    "left_queue")


@dataclass(frozen=True)
class Figures:
    """Additive counts for a slice of time (one day, one queue...)."""

    outcomes: Mapping[str, int] = field(default_factory=dict)
    answered_waits: Mapping[int, int] = field(default_factory=dict)  # bucket -> calls
    abandoned_waits: Mapping[int, int] = field(default_factory=dict)
    answered_wait_sum: float = 0.0
    repeats: int = 0
    out_of_hours: int = 0
    checked: int = 0  # held against Asterisk's queue_log
    corrected: int = 0  # of which queue_log corrected


def merge(parts: Iterable[Figures]) -> Figures:
    outcomes: Counter[str] = Counter()
    answered: Counter[int] = Counter()
    abandoned: Counter[int] = Counter()
    wait_sum, repeats, ooh, checked, corrected = 0.0, 0, 0, 0, 0
    for p in parts:
        outcomes.update(p.outcomes)
        answered.update(p.answered_waits)
        abandoned.update(p.abandoned_waits)
        wait_sum += p.answered_wait_sum
        repeats += p.repeats
        ooh += p.out_of_hours
        checked += p.checked
        corrected += p.corrected
    return Figures(dict(outcomes), dict(answered), dict(abandoned), wait_sum, repeats, ooh,
                   checked, corrected)


@dataclass(frozen=True)
class Targets:
    service_level: Mapping[int, float]  # threshold seconds -> share to answer within it
    abandon_rate: float
    callback_kept: float


@dataclass(frozen=True)
class Standards:
    calls: int  # every finished inbound call
    offered: int
    answered: int
    answered_within: Mapping[int, int]
    service_level: Mapping[int, float | None]
    mean_answer_seconds: float | None
    p90_answer_seconds: int | None
    abandoned: int  # excluding short abandons
    short_abandoned: int
    short_abandon_seconds: int
    abandon_rate: float | None
    repeat_contacts: int
    repeat_rate: float | None
    out_of_hours: int
    unsettled: int = 0  # outcome unknown: ended while the PBX could not be seen
    unsettled_rate: float | None = None  # of all calls; they are not in ``offered``
    checked: int = 0  # calls held against Asterisk's queue_log
    checked_rate: float | None = None  # of all calls
    corrected: int = 0  # calls queue_log corrected


def _within(waits: Mapping[int, int], limit: int) -> int:
    return sum(n for bucket, n in waits.items() if bucket <= limit)


def percentile(waits: Mapping[int, int], share: float) -> int | None:
    """Smallest whole second S such that at least ``share`` of the calls waited <= S."""
    total = sum(waits.values())
    if total == 0:
        return None
    running = 0
    for bucket in sorted(waits):
        running += waits[bucket]
        if running >= share * total:
            return bucket
    return max(waits)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarise(f: Figures, thresholds: Sequence[int], short_abandon: int) -> Standards:
    short = _within(f.abandoned_waits, short_abandon)
    offered = sum(f.outcomes.get(o, 0) for o in OFFERED_OUTCOMES) - short
    answered = f.outcomes.get("answered", 0)
    within = {t: _within(f.answered_waits, t) for t in thresholds}
    abandoned = f.outcomes.get("abandoned", 0) - short
    calls = sum(f.outcomes.values())
    return Standards(
        calls=calls, offered=offered, answered=answered, answered_within=within,
        service_level={t: _ratio(n, offered) for t, n in within.items()},
        mean_answer_seconds=f.answered_wait_sum / answered if answered else None,
        p90_answer_seconds=percentile(f.answered_waits, 0.9),
        abandoned=abandoned, short_abandoned=short, short_abandon_seconds=short_abandon,
        abandon_rate=_ratio(abandoned, offered), repeat_contacts=f.repeats,
        repeat_rate=_ratio(f.repeats, calls), out_of_hours=f.out_of_hours,
        unsettled=f.outcomes.get("unknown", 0),
        unsettled_rate=_ratio(f.outcomes.get("unknown", 0), calls),
        checked=f.checked, checked_rate=_ratio(f.checked, calls), corrected=f.corrected)


def wait_bucket(seconds: float) -> int:
    """The whole-second bucket of a wait: (k-1, k] -> k; 0 -> 0."""
    whole = int(seconds)
    return whole if whole == seconds else whole + 1
