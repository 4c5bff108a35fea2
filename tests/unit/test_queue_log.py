"""queue_log as the ledger: parsing, folding a call's visits, and settling AMI records."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from callcentre.domain.calls import Call, EndSource, Outcome
from callcentre.domain.queue_log import (
    QueueLogError,
    fold,
    parse_line,
    reconcile,
)
from tests.support import (
    FIXTURES,
    QUEUE_TRACES,
    expected_from_queue_log,
    parse_all,
    queue_log,
    trace_bytes,
)
from tests.support import fold as fold_ami


def ledger_lines(name: str) -> list:  # type: ignore[type-arg]
    text = (FIXTURES / f"{name}.queue_log").read_text()
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize("name", [*QUEUE_TRACES, "answered_resync"])
def test_the_ledger_agrees_with_the_independent_reading_of_each_capture(name: str) -> None:
    lines = ledger_lines(name)
    truth = expected_from_queue_log(queue_log((FIXTURES / f"{name}.queue_log").read_text()))
    for callid, (outcome, wait) in truth.items():
        call = fold(callid, lines)
        assert call.complete
        assert (call.outcome, call.wait_seconds) == (Outcome(outcome), wait)


def test_an_answered_call_has_one_stint_with_agent_wait_and_talk() -> None:
    (stint,) = fold("1796072897.0", ledger_lines("answered_resync")).stints
    assert (stint.queue, stint.exit, stint.agent, stint.wait_seconds, stint.talk_seconds,
            stint.talk_end, stint.position) == ("council", "CONNECT", "Agent 1", 1, 8,
                                                "COMPLETEAGENT", 1)
    assert stint.entered_at == at(1796072898)
    assert stint.talk_ended_at == at(1796072907)


def test_lines_about_agents_and_other_calls_are_left_out() -> None:
    call = fold("1796069425.0", ledger_lines("timeout"))  # PAUSE/UNPAUSE lines around it
    assert [s.exit for s in call.stints] == ["EXITWITHTIMEOUT"]
    assert call.caller == "07700900001"
    assert fold("no-such-call", ledger_lines("timeout")).stints == ()


@pytest.mark.parametrize(("line", "why"), [
    ("1796069425|x|council|NONE", "fields"),
    ("soon|1.0|council|NONE|ENTERQUEUE|", "not a number"),
    ("-5|1.0|council|NONE|ENTERQUEUE|", "out of range"),
    ("99999999999999|1.0|council|NONE|ENTERQUEUE|", "out of range"),
    ("1796069425|1.0|council|NONE|EVIL\x1b[2J|", "not a name"),
])
def test_malformed_lines_are_refused_with_a_reason(line: str, why: str) -> None:
    with pytest.raises(QueueLogError, match=why):
        parse_line(line)


def test_absurd_numbers_in_data_read_as_unknown() -> None:
    lines = [parse_line("100|c|q|NONE|ENTERQUEUE||0770|1"),
             parse_line("130|c|q|NONE|ABANDON|1|1|" + "9" * 40)]
    call = fold("c", lines)
    assert call.outcome is Outcome.ABANDONED
    assert call.stints[0].wait_seconds is None
    assert call.wait_seconds == 30  # from the line times instead


def test_two_queues_one_call_and_the_answered_visit_decides() -> None:
    lines = [parse_line(t) for t in (
        "100|c|first|NONE|ENTERQUEUE||0770|1",
        "110|c|first|NONE|EXITWITHTIMEOUT|1|1|10",
        "111|c|council|NONE|ENTERQUEUE||0770|1",
        "115|c|council|Agent 2|CONNECT|4|c2|1",
        "160|c|council|Agent 2|BLINDTRANSFER|2000|council-inbound|4|45|1",
    )]
    call = fold("c", lines)
    assert [(s.queue, s.exit) for s in call.stints] == [("first", "EXITWITHTIMEOUT"),
                                                        ("council", "CONNECT")]
    assert call.complete and call.stints[1].transferred
    assert call.outcome is Outcome.ANSWERED
    assert call.wait_seconds == 15  # first ENTERQUEUE to the answer
    assert call.stints[1].talk_seconds == 45


def test_a_visit_still_open_is_not_complete() -> None:
    lines = [parse_line("100|c|q|NONE|ENTERQUEUE||0770|1"),
             parse_line("104|c|q|Agent 1|CONNECT|4|c2|1")]
    call = fold("c", lines)
    assert call.outcome is Outcome.ANSWERED and not call.complete
    key = [parse_line("100|k|q|NONE|ENTERQUEUE||0770|1"),
           parse_line("103|k|q|NONE|EXITWITHKEY|1|1|1|3")]
    left = fold("k", key)
    assert (left.complete, left.outcome, left.stints[0].key, left.wait_seconds) == (
        True, Outcome.EXIT_WITH_KEY, "1", 3)


def test_an_ami_record_that_agrees_is_kept_exactly() -> None:
    (call,) = fold_ami(parse_all(trace_bytes("timeout")))
    ledger = fold(call.linkedid, ledger_lines("timeout"))
    settled = reconcile(call, ledger)
    assert settled.differences == {}
    assert settled.call == call  # AMI's microsecond times are kept where they agree


def test_a_call_logged_abandoned_that_queue_log_says_was_answered_is_corrected() -> None:
    (call,) = fold_ami(parse_all(trace_bytes("timeout")))
    wrong = replace(call, outcome=Outcome.ABANDONED, queue_status=None, abandoned=True)
    settled = reconcile(wrong, fold(call.linkedid, ledger_lines("timeout")))
    assert settled.call.outcome is Outcome.TIMEOUT
    assert settled.call.queue_status == "TIMEOUT"
    assert settled.differences == {"outcome": ("abandoned", "timeout")}


def test_an_answer_the_call_log_missed_gets_the_ledger_times() -> None:
    lines = ledger_lines("answered_resync")
    ledger = fold("1796072897.0", lines)
    (call,) = [c for c in fold_ami(parse_all(trace_bytes("answered_resync")))
               if c.linkedid == "1796072897.0"]
    blind = replace(call, answered_at=None, agent_name=None, agent_interface=None,
                    outcome=Outcome.ABANDONED, left_queue_at=call.ended_at, abandoned=True)
    settled = reconcile(blind, ledger)
    assert settled.call.outcome is Outcome.ANSWERED
    assert settled.call.answered_at == at(1796072899)
    assert settled.call.agent_name == "Agent 1"
    assert settled.call.wait_seconds is not None
    assert abs(settled.call.wait_seconds - 1) <= 1.5
    assert set(settled.differences) >= {"outcome", "agent_name", "wait", "talk"}


def test_a_wait_wrong_by_more_than_the_tolerance_becomes_the_ledgers() -> None:
    (call,) = fold_ami(parse_all(trace_bytes("abandoned_long")))
    early = replace(call, queued_at=call.queued_at - timedelta(seconds=5))  # type: ignore[operator]
    settled = reconcile(early, fold(call.linkedid, ledger_lines("abandoned_long")))
    assert settled.call.queued_at == at(1796069435)  # the ENTERQUEUE line's second
    assert settled.call.wait_seconds == pytest.approx(9, abs=1)
    assert float(settled.differences["wait"][0]) == pytest.approx(13.5, abs=0.1)


def test_a_call_the_call_log_never_saw_is_created_from_the_ledger() -> None:
    ledger = fold("1796069425.0", ledger_lines("timeout"))
    settled = reconcile(None, ledger)
    assert settled.created
    c = settled.call
    assert (c.linkedid, c.outcome, c.queue, c.caller_raw, c.end_source) == (
        "1796069425.0", Outcome.TIMEOUT, "council", "07700900001", EndSource.LEDGER)
    assert (c.arrived_at, c.queued_at, c.left_queue_at, c.ended_at) == (
        at(1796069426), at(1796069426), at(1796069430), at(1796069430))
    assert c.wait_seconds == 4


def test_an_unsettled_ledger_cannot_settle_a_call() -> None:
    with pytest.raises(ValueError, match="not settled"):
        reconcile(None, fold("c", [parse_line("100|c|q|NONE|ENTERQUEUE||0770|1")]))


def test_a_wait_a_hair_over_a_second_off_is_brought_within_a_second_unreported() -> None:
    """Seen in a real burst: AMI's stamps said 17.003 s, queue_log's holdtime 16."""
    lines = [parse_line("100|c|council|NONE|ENTERQUEUE||0770|1"),
             parse_line("117|c|council|Agent 1|CONNECT|16|c2|1"),
             parse_line("130|c|council|Agent 1|COMPLETEAGENT|16|13|1")]
    joined = at(100) + timedelta(seconds=0.4)
    call = Call("c", "PJSIP/r-1", joined, queue="council", queued_at=joined,
                answered_at=joined + timedelta(seconds=17.003), agent_name="Agent 1",
                talk_ended_at=at(130), ended_at=at(130), outcome=Outcome.ANSWERED,
                end_source=EndSource.HANGUP)
    settled = reconcile(call, fold("c", lines))
    assert settled.call.wait_seconds == 17.0  # the nearest wait both records allow
    assert settled.call.answered_at == call.answered_at  # AMI's answer time is kept
    assert settled.differences == {}


def test_key_at_once_then_queued_again_in_the_same_second_is_two_visits() -> None:
    lines = [parse_line(t) for t in (
        "1796097222|k|council|NONE|ENTERQUEUE||07700900001|1",
        "1796097222|k|council|NONE|EXITWITHKEY|1|1|1|0",
        "1796097222|k|council|NONE|ENTERQUEUE||07700900001|1",
        "1796097224|k|council|NONE|ABANDON|1|1|2")]
    call = fold("k", lines)
    assert [s.exit for s in call.stints] == ["EXITWITHKEY", "ABANDON"]
    assert (call.outcome, call.wait_seconds) == (Outcome.ABANDONED, 2)


def test_the_wait_announcements_loop_is_one_answered_call_waiting_from_the_first_entry() -> None:
    """Real Asterisk 22 (tests/fixtures/ami/wait_loop.*, scenarios.wait_loop): let out of the
    queue every 3 s to hear the wait (EXITWITHTIMEOUT; AMI QueueCallerAbandon and
    QUEUESTATUS=TIMEOUT too), back in at QUEUEPOSITION 2 (ENTERQUEUE ... |2), then answered.
    Both records say one call, answered, its wait from the first ENTERQUEUE; never abandoned."""
    lines = ledger_lines("wait_loop")
    ledger = fold("1796161630.1", lines)
    assert [s.exit for s in ledger.stints] == ["EXITWITHTIMEOUT", "EXITWITHTIMEOUT", "CONNECT"]
    assert [s.position for s in ledger.stints] == [2, 2, 2]  # the place kept
    assert (ledger.outcome, ledger.wait_seconds) == (Outcome.ANSWERED, 11)
    calls = {c.linkedid: c for c in fold_ami(parse_all(trace_bytes("wait_loop")))}
    call = calls["1796161630.1"]
    assert len(calls) == 2 and call.outcome is Outcome.ANSWERED and not call.abandoned
    assert call.wait_seconds is not None and abs(call.wait_seconds - 11) < 1.5
    assert reconcile(call, ledger).differences == {}
