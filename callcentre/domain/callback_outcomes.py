"""Judging an attempt, correcting a result, and counting results: the callback's outcome rules.

* ``judge``: what an attempt the PBX followed to its end comes to. With the default policy
  (AnswerCheck.CONFIRM) only a resident who pressed 1 and was then connected to the agent
  is reached; an answer without the key is ``unconfirmed``; AMD's MACHINE is
  ``answering_machine``; both are failed attempts, retried per policy.
* ``correct_result``: an agent says, after the fact, that a closed callback's result was
  wrong (kept, but it was voicemail; missed, but the resident was helped). Who, when, old,
  new and why go into the history; the result itself changes, so figures follow.
* ``tally``: kept ratio = kept / (kept + late + missed); cancelled ones are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from callcentre.domain.callback_policy import AnswerCheck, CallbackPolicy
from callcentre.domain.callbacks import (
    AttemptOutcome,
    Callback,
    Result,
    Status,
    clean_reason,
    require_status,
    with_history,
)
from callcentre.errors import IllegalTransition, InvalidInput

MACHINE = "MACHINE"  # AMDSTATUS of an answering machine
CORRECTABLE = frozenset({Result.KEPT, Result.LATE, Result.MISSED})


def judge(cb: Callback, at: datetime, policy: CallbackPolicy,
          hung_up_by_check: bool = False) -> AttemptOutcome:
    """The outcome of the attempt in progress, which ended at ``at``.

    ``hung_up_by_check``: the dialplan hung up on whoever answered before the agent was
    connected (Dial's DialStatus CONTINUE: no key 1, or AMD heard a machine). Otherwise a
    resident connected to the agent (``answered_at``) is judged by the policy."""
    current = cb.current
    if current is not None and current.amd == MACHINE:
        return AttemptOutcome.MACHINE
    if hung_up_by_check:
        return AttemptOutcome.UNCONFIRMED
    if current is None or current.answered_at is None:
        return AttemptOutcome.NO_ANSWER
    if policy.reached(at - current.answered_at, current.confirmed):
        return AttemptOutcome.REACHED
    return (AttemptOutcome.UNCONFIRMED if policy.check is AnswerCheck.CONFIRM
            else AttemptOutcome.NOT_REACHED)


def correct_result(cb: Callback, result: Result, reason: str, by: str,
                   at: datetime) -> Callback:
    """Correct a closed callback's result (kept, late or missed) after the fact.

    Raises IllegalTransition for an open or cancelled callback, InvalidInput for a result
    other than kept, late or missed, the same result again, or an empty reason."""
    require_status(cb, Status.CLOSED, doing="correct the result of")
    if cb.result not in CORRECTABLE:
        raise IllegalTransition(f"cannot correct the result of a callback that is "
                                f"{cb.result.value if cb.result else cb.status.value}")
    if result not in CORRECTABLE:
        raise InvalidInput("result must be kept, late or missed", field="result")
    if result is cb.result:
        raise InvalidInput(f"the result is already {result.value}", field="result")
    text = clean_reason(reason)
    old = cb.result
    assert old is not None  # CORRECTABLE
    return with_history(replace(cb, result=result), at, by, "corrected", old=old.value,
                        new=result.value, reason=text)


def corrections(cb: Callback) -> list[tuple[str, str]]:
    """(old, new) of every correction of the result, in order (for the metrics)."""
    return [(h.old or "", h.new or "") for h in cb.history if h.action == "corrected"]


def first_result(cb: Callback) -> Result | None:
    """The result the callback was first closed with, whatever corrections came later."""
    fixed = next((h for h in cb.history if h.action == "corrected"), None)
    return Result(fixed.old) if fixed is not None and fixed.old else cb.result


@dataclass(frozen=True, slots=True)
class Tally:
    kept: int = 0
    late: int = 0
    missed: int = 0
    cancelled: int = 0
    missed_first_in_time: int = 0  # missed, though the first attempt was made in time
    extended: int = 0  # closed promises whose deadline was moved later at least once

    @property
    def kept_ratio(self) -> float | None:
        """kept / (kept + late + missed); None when there is nothing to judge yet."""
        judged = self.kept + self.late + self.missed
        return None if judged == 0 else self.kept / judged


def tally(callbacks: Iterable[Callback]) -> Tally:
    counts = dict.fromkeys(("kept", "late", "missed", "cancelled",
                            "missed_first_in_time", "extended"), 0)
    for cb in callbacks:
        if cb.result is None:
            continue
        counts[cb.result.value] += 1
        counts["extended"] += cb.extensions > 0
        if cb.result is Result.MISSED and cb.first_attempt_in_time:
            counts["missed_first_in_time"] += 1
    return Tally(**counts)
