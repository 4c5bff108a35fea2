"""The post-call survey and wrap-up codes in the domain: keys to answers, folded into the
call; anything but a valid key is a skip, never a guess (pure: no I/O, times passed in)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcentre.domain import events as ev
from callcentre.domain import survey
from callcentre.domain.calls import Outcome
from tests.support import FIXTURES, fold, parse_all, queue_log, trace_bytes, translator
from tests.unit.test_calls_domain import DETAILS, LID, at, finished_call, tracker
from tests.unit.test_translate import CALLER, msg


def answered_then(*after: ev.CallEvent) -> list[ev.CallEvent]:
    return [ev.CallArrived(LID, at(0), DETAILS),
            ev.QueueJoined(LID, at(1), "council", 1, DETAILS),
            ev.AgentAnswered(LID, at(10), "council", "PJSIP/agent1", "Agent One"),
            ev.AgentCompleted(LID, at(70), "agent"), *after,
            ev.CallerHungUp(LID, at(90), 16)]


@pytest.mark.parametrize(("key", "resolved"), [("1", True), ("2", False), ("", None),
                                               ("3", None), ("#", None)])
def test_resolved_keys(key: str, resolved: bool | None) -> None:
    assert survey.resolved_answer(key) is resolved


@pytest.mark.parametrize(("key", "score"), [("1", 1), ("5", 5), ("0", None), ("6", None),
                                            ("", None), ("12", None), ("*", None)])
def test_satisfaction_keys(key: str, score: int | None) -> None:
    assert survey.satisfaction_answer(key) == score


def test_answers_land_on_the_call_and_talk_time_ends_with_the_agent() -> None:
    call = finished_call(tracker(), answered_then(
        ev.SurveyOffered(LID, at(71)),
        ev.SurveyAnswered(LID, at(75), "resolved", "1"),
        ev.SurveyAnswered(LID, at(80), "satisfaction", "4"),
        ev.SurveyAnswered(LID, at(81), "how-did-you-hear", "2")))  # not measured: ignored
    assert (call.survey_offered, call.survey_resolved, call.survey_satisfaction) == (True, True, 4)
    assert call.talk_seconds == 60


def test_a_resident_who_hangs_up_during_the_survey_skips_the_rest() -> None:
    call = finished_call(tracker(), answered_then(
        ev.SurveyOffered(LID, at(71)), ev.SurveyAnswered(LID, at(75), "resolved", "2")))
    assert (call.survey_offered, call.survey_resolved, call.survey_satisfaction) == (True, False,
                                                                                     None)
    never = finished_call(tracker(), answered_then())
    assert (never.survey_offered, never.survey_resolved) == (False, None)


def test_the_translator_reads_the_survey_user_events() -> None:
    tr = translator()
    offered = tr(msg(Event="UserEvent", UserEvent="CallcentreSurveyOffered", **CALLER))
    assert offered == ev.SurveyOffered("17.0", offered.at)  # type: ignore[union-attr]
    answer = tr(msg(Event="UserEvent", UserEvent="CallcentreSurveyAnswer", Question="resolved",
                    Answer="1", **CALLER))
    assert answer == ev.SurveyAnswered("17.0", answer.at, "resolved", "1")  # type: ignore[union-attr]
    skip = tr(msg(Event="UserEvent", UserEvent="CallcentreSurveyAnswer", Question="satisfaction",
                  **CALLER))
    assert isinstance(skip, ev.SurveyAnswered) and skip.key == ""
    assert tr(msg(Event="UserEvent", UserEvent="CallcentreSurveyAnswer", **CALLER)) is None
    assert tr.malformed == 1


def test_wrapup_codes_come_from_the_configured_list() -> None:
    assert survey.check_wrapup_code("resolved", ("resolved", "wrong-number")) == "resolved"
    with pytest.raises(ValueError, match="one of: resolved, wrong-number"):
        survey.check_wrapup_code("made-up", ("resolved", "wrong-number"))
    with pytest.raises(ValueError, match="wrapup_codes"):
        survey.check_wrapup_code("resolved", ())


def test_a_real_survey_replayed_lands_on_its_call_and_talk_ends_with_the_agent() -> None:
    """tests/fixtures/ami/survey.ami (scenarios.survey): Queue() option c, QUEUESTATUS
    CONTINUE, then the resident keyed 1 (resolved) and 4 (satisfaction) as RFC 2833."""
    (call,) = fold(parse_all(trace_bytes("survey")))
    (completed,) = [line for line in queue_log((FIXTURES / "survey.queue_log").read_text())
                    if line.event == "COMPLETEAGENT"]
    assert call.outcome is Outcome.ANSWERED and call.queue_status == "CONTINUE"
    assert (call.survey_offered, call.survey_resolved, call.survey_satisfaction) == (True, True, 4)
    assert call.talk_seconds is not None  # to the agent's hang-up, as queue_log's, not the survey's
    assert abs(call.talk_seconds - int(completed.data[1])) < 1.0
    assert call.ended_at is not None and call.ended_at - call.arrived_at > timedelta(seconds=8)
