"""The resident's language on the call record, as the real Asterisk sends it: every event of
the channel after the dialplan's language menu carries ``Language: ga`` in its snapshot
(tests/fixtures/ami/language.ami, scenarios.language: key 2, Irish, queue council-ga)."""

from __future__ import annotations

import pytest

from callcentre.domain import callback_events as cev
from callcentre.domain import events as ev
from callcentre.domain.calls import Outcome
from tests.support import FIXTURES, fold, parse_all, queue_log, trace_bytes, translator
from tests.unit.test_calls_domain import DETAILS, LID, at, finished_call, tracker
from tests.unit.test_translate import CALLER, msg


def test_the_chosen_language_is_on_the_real_call_answered_by_the_irish_speaker() -> None:
    (call,) = fold(parse_all(trace_bytes("language")))
    lines = queue_log((FIXTURES / "language.queue_log").read_text())
    assert [(x.queue, x.event) for x in lines] == [
        ("council-ga", "ENTERQUEUE"), ("council-ga", "CONNECT"), ("council-ga", "COMPLETEAGENT")]
    assert call.outcome is Outcome.ANSWERED and call.queue == "council-ga"
    assert (call.language, call.agent_interface) == ("ga", "PJSIP/agent2")


def test_a_call_without_a_menu_has_the_pbx_default() -> None:
    (call,) = fold(parse_all(trace_bytes("answered")))
    assert call.language == "en"


def test_the_language_as_the_resident_joined_the_queue_wins_over_arrival() -> None:
    call = finished_call(tracker(), [
        ev.CallArrived(LID, at(0), _with_language("en")),
        ev.QueueJoined(LID, at(5), "council-ga", 1, _with_language("ga")),
        ev.CallerHungUp(LID, at(20), 16)])
    assert call.language == "ga"


def _with_language(language: str | None) -> ev.CallerDetails:
    return ev.CallerDetails(DETAILS.channel, DETAILS.caller, DETAILS.caller_raw,
                            DETAILS.caller_name, DETAILS.dialled, DETAILS.case_ref, language)


@pytest.mark.parametrize(("header", "language"), [
    ("ga", "ga"), ("pt_BR", "pt_BR"), ("", None), ("../../etc", None), ("x" * 17, None),
    ("gá", None)])
def test_only_a_language_code_is_taken(header: str, language: str | None) -> None:
    e = translator()(msg(Event="Newchannel", Context="council-inbound", Language=header,
                         **CALLER))
    assert isinstance(e, ev.CallArrived) and e.details.language == language


def test_a_callback_asked_for_in_the_queue_carries_the_language() -> None:
    e = translator()(msg(Event="UserEvent", UserEvent="CallcentreCallbackRequest",
                         Language="ga", CaseRef="HOU-1", **CALLER))
    assert isinstance(e, cev.CallbackRequested) and e.language == "ga"


def test_the_residents_leg_of_a_callback_speaks_its_language() -> None:
    """tests/fixtures/ami/callback_language.ami: Originate with CALLBACK_LANGUAGE=ga to
    agent2. Dial does not pass the language on (the resident's leg arrives in en); the
    confirmation Gosub sets it, so the resident is asked, and confirms, in Irish."""
    by_event: dict[str, list[str | None]] = {}
    for m in parse_all(trace_bytes("callback_language")):
        if (m.get("Channel") or "").startswith("PJSIP/resident-cb"):
            by_event.setdefault(m.get("UserEvent") or m.get("Event") or "", []).append(
                m.get("Language"))
    assert by_event["Newchannel"] == ["en"]
    assert by_event["CallcentreCallbackConfirmed"] == ["ga"]
