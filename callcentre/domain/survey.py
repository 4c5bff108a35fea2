"""The resident's post-call keypad survey and the agent's wrap-up codes (#15). Pure.

The dialplan (dialplans/extensions_callcentre.conf, context callcentre-survey) asks the
questions it is given in CALLCENTRE_SURVEY_QUESTIONS, in that order, and sends each key it
read; the service knows what each question's keys mean. A question it does not know is
ignored (the dialplan may ask more than is measured); a key out of range, no key in time or
a hang-up before the question is a skip, never a guess.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from callcentre.domain.callbacks import Attempt, Callback
from callcentre.domain.events import SurveyAnswered, SurveyOffered

RESOLVED = "resolved"  # "Was your question resolved? 1 yes, 2 no": first-contact resolution
SATISFACTION = "satisfaction"  # "How satisfied were you, 1 (not at all) to 5 (very)?"
SATISFACTION_KEYS = range(1, 6)
_RESOLVED_KEYS = {"1": True, "2": False}


def resolved_answer(key: str) -> bool | None:
    """1 yes, 2 no; anything else (nothing keyed in time, another key) is a skip: None."""
    return _RESOLVED_KEYS.get(key.strip())


def satisfaction_answer(key: str) -> int | None:
    """1-5; anything else is a skip: None."""
    key = key.strip()
    if len(key) != 1 or not key.isdigit():
        return None
    score = int(key)
    return score if score in SATISFACTION_KEYS else None


def on_attempt(cb: Callback, event: SurveyOffered | SurveyAnswered) -> Callback:
    """The callback with the survey noted on the attempt whose ChannelId is the event's
    Linkedid (the callback may be closed already: the survey follows the agent's hang-up);
    ``cb`` itself when no attempt has it."""
    if not any(a.channel_id == event.linkedid for a in cb.attempts):
        return cb
    return replace(cb, attempts=tuple(_noted(a, event) if a.channel_id == event.linkedid else a
                                      for a in cb.attempts))


def callback_survey(cb: Callback) -> tuple[bool, bool | None, int | None]:
    """The callback's survey: (offered, resolved, satisfaction) of its latest attempt that
    reached it (a later attempt is the resident's latest word); (False, None, None) if none."""
    for a in reversed(cb.attempts):
        if a.survey_offered:
            return True, a.survey_resolved, a.survey_satisfaction
    return False, None, None


def _noted(a: Attempt, event: SurveyOffered | SurveyAnswered) -> Attempt:
    if isinstance(event, SurveyOffered):
        return replace(a, survey_offered=True)
    if event.question == RESOLVED:
        return replace(a, survey_offered=True, survey_resolved=resolved_answer(event.key))
    if event.question == SATISFACTION:
        return replace(a, survey_offered=True,
                       survey_satisfaction=satisfaction_answer(event.key))
    return a


def check_wrapup_code(code: object, codes: Collection[str]) -> str:
    """The code when it is one of ``codes``; ValueError saying which are allowed otherwise."""
    if not isinstance(code, str) or code not in codes:
        allowed = ", ".join(codes) or "none are configured (setting wrapup_codes)"
        raise ValueError(f"code must be one of: {allowed}")
    return code


@dataclass(frozen=True)
class SurveyTally:
    """Additive survey counts for a slice of finished calls (a period, a queue, an agent)."""

    offered: int = 0  # residents who reached the survey
    responded: int = 0  # of which answered at least one question
    resolved_answers: int = 0
    resolved_yes: int = 0
    satisfaction_answers: int = 0
    satisfaction_sum: int = 0

    @property
    def response_rate(self) -> float | None:
        """Residents who answered at least one question ÷ residents offered the survey."""
        return _ratio(self.responded, self.offered)

    @property
    def first_contact_resolution(self) -> float | None:
        """"Yes, resolved" ÷ residents who answered that question."""
        return _ratio(self.resolved_yes, self.resolved_answers)

    @property
    def mean_satisfaction(self) -> float | None:
        """The mean of the 1-5 scores given (skips left out)."""
        return _ratio(self.satisfaction_sum, self.satisfaction_answers)


SurveyByAgent = Mapping[str, SurveyTally]  # agent name (else interface; "" for none) -> tally


def merge_tallies(parts: Iterable[SurveyTally]) -> SurveyTally:
    totals = [0] * 6
    for p in parts:
        for i, n in enumerate((p.offered, p.responded, p.resolved_answers, p.resolved_yes,
                               p.satisfaction_answers, p.satisfaction_sum)):
            totals[i] += n
    return SurveyTally(*totals)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
