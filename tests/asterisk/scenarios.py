"""More ways out of a queue, on the harness's Asterisk: each names its exit the way
Asterisk's queue_log does (issue #10). Same contract as the scenario methods of
``AsteriskHarness``: synchronous, return once every resident is done and Asterisk is idle,
``ScenarioResult`` with the queue_log lines written meanwhile; whatever a scenario changes
(paused members, dialplan globals, device states) is put back after.

    from tests.asterisk import scenarios
    result = scenarios.exit_with_key(asterisk)   # ENTERQUEUE, EXITWITHKEY

The test queues and extensions they use are in ``overlay/`` (queues.conf.in: council-first,
council-empty; extensions.conf.in: 2002 in council-inbound, transfer targets).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from tests.asterisk.harness import AsteriskHarness, Caller, HarnessError, LogMark, ScenarioResult
from tests.asterisk.sipp import PlacedCall, SippProcess

# dialplans/extensions.conf: change these together with its [globals]
DEFAULT_QUEUE = "council"
DEFAULT_PROMISE_WAIT = 5  # CALLCENTRE_CALLBACK_PROMISE_WAIT
EMPTY_QUEUE = "council-empty"  # overlay/queues.conf.in
TWO_QUEUES_NUMBER = "2002"  # overlay/extensions.conf.in: council-first, then council


@contextmanager
def _global(asterisk: AsteriskHarness, name: str, value: object, default: object,
            ) -> Iterator[None]:
    """A dialplan global set for the block (CLI), then put back to the dialplan's default."""
    asterisk.cli(f"dialplan set global {name} {value}")
    try:
        yield
    finally:
        asterisk.cli(f"dialplan set global {name} {default}")


@contextmanager
def globals_set(asterisk: AsteriskHarness, **values: tuple[object, object]) -> Iterator[None]:
    """Dialplan globals set for the block: NAME=(value, the dialplan's default to put back)."""
    for name, (value, _) in values.items():
        asterisk.cli(f"dialplan set global {name} {value}")
    try:
        yield
    finally:
        for name, (_, default) in values.items():
            asterisk.cli(f"dialplan set global {name} {default}")


@contextmanager
def _all_paused(asterisk: AsteriskHarness, reason: str) -> Iterator[None]:
    asterisk.pause_members(True, reason)
    try:
        yield
    finally:
        asterisk.pause_members(False)


def _when_queued(asterisk: AsteriskHarness, mark: LogMark, number: str, after_s: float,
                 action: Callable[[], None], give_up_s: float = 30) -> threading.Thread:
    """In a thread: once ``number`` has an ENTERQUEUE since ``mark``, wait ``after_s`` and
    run ``action`` (so what it does is certain to happen while the resident is queued)."""

    def watch() -> None:
        deadline = time.monotonic() + give_up_s
        while time.monotonic() < deadline:
            entries = asterisk.queue_log_since(mark)
            if any(e.event == "ENTERQUEUE" and e.data[1:2] == [number] for e in entries):
                time.sleep(after_s)
                action()
                return
            time.sleep(0.1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------------------- key 1
def exit_with_key(asterisk: AsteriskHarness, *, rejoin: bool = False,
                  case_ref: str | None = "KEY-1") -> ScenarioResult:
    """Every member paused; the resident presses 1 about 1.2 s after Asterisk answered
    (dialplans: callcentre-queue-keys, the callback request) and Queue() lets them go with
    the key (queue_log EXITWITHKEY). Nobody answers CallcentreCallbackRequest here.

    ``rejoin=False``: the resident hangs up 2 s after the key, while the dialplan is still
    waiting (CALLCENTRE_CALLBACK_PROMISE_WAIT, 5 s) for a promise: ENTERQUEUE, EXITWITHKEY.
    ``rejoin=True``: the promise wait is set to 1 s, so the dialplan puts the resident back
    into the queue (a second ENTERQUEUE, same callid); they hang up there 4 s after the key:
    ENTERQUEUE, EXITWITHKEY, ENTERQUEUE, ABANDON.
    """
    mark = asterisk.mark()
    caller = Caller(asterisk.next_number(), case_ref, keys="1",
                    hangup_after_s=4 if rejoin else 2)
    promise_wait = 1 if rejoin else DEFAULT_PROMISE_WAIT
    with _all_paused(asterisk, "harness-all-paused"), _global(
            asterisk, "CALLCENTRE_CALLBACK_PROMISE_WAIT", promise_wait, DEFAULT_PROMISE_WAIT):
        result = asterisk.run_calls([caller], agents=[], mark=mark)
    return replace(result, queue_log=asterisk.queue_log_since(mark))


# ---------------------------------------------------------------------------- leavewhenempty
def leave_empty(asterisk: AsteriskHarness, case_ref: str | None = "EMPTY-1",
                paused_after_s: float = 1.5) -> ScenarioResult:
    """The resident waits in council-empty (leavewhenempty = yes) while its members are busy
    (their Custom: device state INUSE, so with ringinuse = no none is rung);
    ``paused_after_s`` after ENTERQUEUE every member is paused and Queue() lets the resident
    go: EXITEMPTY, QUEUESTATUS=LEAVEEMPTY, and the product dialplan hangs up after its
    UserEvent CallcentreQueueResult. queue_log: ENTERQUEUE, PAUSE per member, EXITEMPTY.

    The members (``PJSIP/emptyN``, no phone behind them) exist only during the scenario:
    as members of a queue they are agents to callcentre's board, and an agent that stays
    busy in a second queue would look busy for callbacks too."""
    members = [f"PJSIP/empty{i}" for i in range(1, len(asterisk.agents) + 1)]

    def pause_all() -> None:
        for member in members:
            asterisk.cli(f"queue pause member {member} queue {EMPTY_QUEUE} "
                         "reason harness-leave-empty")

    _set_empty_devices(asterisk, members, "INUSE")
    for i, member in enumerate(members, 1):
        asterisk.cli(f"queue add member {member} to {EMPTY_QUEUE} penalty 0 as Empty{i} "
                     f"state_interface Custom:council-{member[6:]}")
    try:
        mark = asterisk.mark()
        caller = Caller(asterisk.next_number(), case_ref, hangup_after_s=30)
        with _global(asterisk, "CALLCENTRE_QUEUE", EMPTY_QUEUE, DEFAULT_QUEUE):
            watcher = _when_queued(asterisk, mark, caller.number, paused_after_s, pause_all)
            result = asterisk.run_calls([caller], agents=[], mark=mark)
            watcher.join(5)
        for member in members:
            asterisk.cli(f"queue unpause member {member} queue {EMPTY_QUEUE}")
        return replace(result, queue_log=asterisk.queue_log_since(mark))
    finally:
        for member in members:
            asterisk.cli(f"queue remove member {member} from {EMPTY_QUEUE}")
        _set_empty_devices(asterisk, members, "NOT_INUSE")


def _set_empty_devices(asterisk: AsteriskHarness, members: list[str], state: str) -> None:
    for member in members:
        asterisk.cli(f"devstate change Custom:council-{member[6:]} {state}")


# ---------------------------------------------------------------------------- transfer
def transfer(asterisk: AsteriskHarness, *, attended: bool = False, ring_s: float = 1.0,
             talk_s: float = 2.0, consult_s: float = 2.0, target_talk_s: float = 2.0,
             case_ref: str | None = "XFER-1") -> ScenarioResult:
    """agent1 (the only member not paused) answers after ``ring_s`` and talks ``talk_s``.

    Blind: its phone sends a SIP REFER to agent2 (an extension of the agents' context in
    the overlay); queue_log ENTERQUEUE, CONNECT, BLINDTRANSFER. Attended: it calls agent2
    first (the consultation, ``consult_s``), then sends a REFER that replaces that call
    with the resident's; queue_log ENTERQUEUE, CONNECT, ATTENDEDTRANSFER. Either way
    agent2's phone rings ``ring_s``, answers and hangs up ``target_talk_s`` after the
    transfer, which ends the call. PAUSE/UNPAUSE lines for agent2 and agent3 around it."""
    first, target = asterisk.agents[0], asterisk.agents[1]
    others = asterisk.agents[1:]
    mark = asterisk.mark()
    asterisk.pause_members(True, "harness-transfer", others)
    phones = asterisk.start_phones(ring_s, talk_s, [first], transfer_to=target,
                                   consult_s=consult_s if attended else None)
    target_s = target_talk_s + (consult_s if attended else 0)
    phones += asterisk.start_phones(ring_s, target_s, [target])
    try:
        caller = Caller(asterisk.next_number(), case_ref,
                        hangup_after_s=2 * ring_s + talk_s + target_s + 60)
        result = asterisk.run_calls([caller], agents=[], mark=mark)
    finally:
        asterisk.stop_sipps(phones)
        asterisk.pause_members(False, agents=others)
    return replace(result, agents=[first, target], queue_log=asterisk.queue_log_since(mark))


# ---------------------------------------------------------------------------- two queues
def two_queues(asterisk: AsteriskHarness, *, ring_s: float = 1.0, talk_s: float = 2.0,
               case_ref: str | None = "TWOQ-1") -> ScenarioResult:
    """One call, two queues: the resident dials 2002 (overlay), waits 2 s in council-first
    (no members; EXITWITHTIMEOUT), then the product's own path puts them in council, where
    an agent answers after ``ring_s`` and hangs up after ``talk_s``. queue_log, one callid:
    ENTERQUEUE, EXITWITHTIMEOUT (council-first), ENTERQUEUE, CONNECT, COMPLETEAGENT."""
    caller = Caller(asterisk.next_number(), case_ref, dial=TWO_QUEUES_NUMBER,
                    hangup_after_s=ring_s + talk_s + 60)
    return asterisk.run_calls([caller], ring_s, talk_s)


# ---------------------------------------------------------------------------- survey
SURVEY_NUMBER = "2003"  # overlay/extensions.conf.in: the product path, survey on


def survey(asterisk: AsteriskHarness, *, keys: str = "14", ring_s: float = 1.0,
           talk_s: float = 2.0, case_ref: str | None = "SURVEY-1",
           hang_up_s: float = 30) -> ScenarioResult:
    """The post-call survey: the resident dials 2003 (CALLCENTRE_SURVEY=yes for that call),
    an agent answers after ``ring_s`` and hangs up after ``talk_s``; Queue() option c keeps
    the resident on, and callcentre-survey asks its questions. The resident keys ``keys``
    (RFC 2833; one a question, "" for none: every question times out) and the dialplan hangs
    up after the last question; unless the resident hangs up first, ``hang_up_s`` after
    their last key. queue_log: ENTERQUEUE, CONNECT, COMPLETEAGENT."""
    caller = Caller(asterisk.next_number(), case_ref, dial=SURVEY_NUMBER, survey_keys=keys,
                    survey_after_s=ring_s + talk_s + 3, hangup_after_s=hang_up_s)
    return asterisk.run_calls([caller], ring_s, talk_s)


# ---------------------------------------------------------------------------- languages
LANGUAGE_NUMBER = "2004"  # overlay/extensions.conf.in: the product path, menu en & ga
IRISH_QUEUE = "council-ga"  # overlay/queues.conf.in


@contextmanager
def irish_speaker(asterisk: AsteriskHarness, agent: str = "agent2") -> Iterator[None]:
    """``agent`` is a member of council-ga (QueueMemberAdded) while the block runs, as a
    council says who speaks Irish; removed after (QueueMemberRemoved)."""
    n = agent.removeprefix("agent")
    asterisk.cli(f'queue add member PJSIP/{agent} to {IRISH_QUEUE} penalty 0 as "Agent {n}" '
                 f"state_interface PJSIP/{agent}")
    try:
        yield
    finally:
        asterisk.cli(f"queue remove member PJSIP/{agent} from {IRISH_QUEUE}")


def language(asterisk: AsteriskHarness, *, key: str = "2", ring_s: float = 1.0,
             talk_s: float = 2.0, speaker: bool = True) -> ScenarioResult:
    """The language menu: the resident dials 2004 (CALLCENTRE_LANGUAGES=en&ga for that call)
    and keys ``key`` (SIP INFO, 1.2 s after answer: during the English option; "" for no
    key: the default after CALLCENTRE_LANGUAGE_TIMEOUT). The case-reference prompt
    (callcentre/case-reference, tests/asterisk/prompts.py must have installed it) then
    plays in the chosen language and times out (no reference); the resident waits in
    council-ga (Irish; agent2, made its member for the call) or council, and an agent
    answers after ``ring_s`` and hangs up after ``talk_s``. queue_log: ENTERQUEUE, CONNECT,
    COMPLETEAGENT. ``speaker=False``: nobody is in council-ga and CALLCENTRE_LANGUAGE_WAIT
    is 2 s for the scenario, so the resident goes on to council (EXITWITHTIMEOUT in
    council-ga, then ENTERQUEUE, CONNECT, COMPLETEAGENT in council)."""
    caller = Caller(asterisk.next_number(), None, dial=LANGUAGE_NUMBER, keys=key,
                    hangup_after_s=60)
    if not speaker:
        with globals_set(asterisk, CALLCENTRE_LANGUAGE_WAIT=("2", "0")):
            return asterisk.run_calls([caller], ring_s, talk_s)
    with irish_speaker(asterisk):
        return asterisk.run_calls([caller], ring_s, talk_s)


# ---------------------------------------------------------------------------- estimated wait
WAIT_NUMBER = "2005"  # overlay/extensions.conf.in: the product path, the wait said every 3 s


def wait_loop(asterisk: AsteriskHarness, *, loops: int = 2, ring_s: float = 1.0,
              talk_s: float = 2.0) -> ScenarioResult:
    """The periodic announcement's loop (dialplans: council-inbound's qwait): every member
    paused; resident A dials 1000 (no loop), resident B dials 2005 (let out of the queue every
    3 s and put back at QUEUEPOSITION). Once B has entered the queue ``loops`` + 1 times,
    agent1 and agent2 are unpaused and answer both. Nobody answers CallcentreWaitQuery here,
    so nothing is said. queue_log for B: ENTERQUEUE, (EXITWITHTIMEOUT, ENTERQUEUE) x loops,
    CONNECT, COMPLETEAGENT."""
    mark = asterisk.mark()
    first = Caller(asterisk.next_number(), "WAIT-A", hangup_after_s=60)
    looped = Caller(asterisk.next_number(), "WAIT-B", dial=WAIT_NUMBER, hangup_after_s=60)

    def unpause_when_looped() -> None:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            joins = [e for e in asterisk.queue_log_since(mark)
                     if e.event == "ENTERQUEUE" and e.data[1:2] == [looped.number]]
            if len(joins) > loops:
                break
            time.sleep(0.1)
        asterisk.pause_members(False, agents=asterisk.agents[:2])

    asterisk.pause_members(True, "harness-wait-loop")
    watcher = threading.Thread(target=unpause_when_looped, daemon=True)
    watcher.start()
    try:
        result = asterisk.run_calls([first, looped], ring_s, talk_s,
                                    agents=asterisk.agents[:2], mark=mark)
    finally:
        watcher.join(5)
        asterisk.pause_members(False)
    return replace(result, queue_log=asterisk.queue_log_since(mark))


OFFER_NUMBER = "2006"  # overlay/extensions.conf.in: the product path, the wait said on joining


def wait_offer(asterisk: AsteriskHarness, *, key_after_s: float = 24.0,
               talk_s: float = 36.0) -> ScenarioResult:
    """A resident told the wait with a callback offer presses 1 back in the queue: agent2
    and agent3 paused; agent1's phone answers resident A after 1 s and talks ``talk_s``;
    once A is connected, resident B dials 2006 (the wait said on joining: the service
    under test answers), hears it and keys 1 as RFC 2833 ``key_after_s`` after answer,
    in the queue by then (callcentre-queue-keys: EXITWITHKEY, the callback request): the
    wait, the offer and its time took 17 s on the 2-core machine (wait_offer.queue_log).
    queue_log: A ENTERQUEUE, CONNECT, COMPLETEAGENT; B ENTERQUEUE, EXITWITHKEY."""
    mark, started = asterisk.mark(), time.time()
    first, others = asterisk.agents[:1], asterisk.agents[1:]
    busy = Caller(asterisk.next_number(), "WAIT-BUSY", hangup_after_s=talk_s + 30)
    offered = Caller(asterisk.next_number(), "WAIT-OFFER", dial=OFFER_NUMBER, keys="",
                     survey_keys="1", survey_after_s=key_after_s, hangup_after_s=20)
    asterisk.pause_members(True, "harness-wait-offer", others)
    try:
        with calls_up(asterisk, asterisk.start_phones(1.0, talk_s, first)) as residents:
            residents.extend(asterisk.start_callers([busy]))
            _until(lambda: any(e.event == "CONNECT" for e in asterisk.queue_log_since(mark)),
                   30)
            residents.extend(asterisk.start_callers([offered]))
            asterisk.wait_callers(residents, talk_s + 90)
            asterisk.wait_idle()
    finally:
        asterisk.pause_members(False, agents=others)
    asterisk.queued_or_lost(mark, [offered], residents[1:])
    calls = [PlacedCall(c, s.call_id or "", s.exit_code)
             for c, s in zip([busy, offered], residents, strict=True)]
    return ScenarioResult(calls, first, mark, asterisk.queue_log_since(mark), started,
                          time.time())


def burst_with_callback_phone(asterisk: AsteriskHarness, done: threading.Event, *,
                              callers: int = 7, ring_s: float = 1.0, talk_s: float = 8.0,
                              timeout: float = 120) -> ScenarioResult:
    """A burst on three agents while a callback is due (blending): every agent's phone rings
    ``ring_s`` and talks ``talk_s`` for whatever it gets, residents' calls from the queue or
    the callback's agent leg; the resident-cb phone answers the callback after 1 s and keys
    1. ``callers`` residents dial 1000 at once (more than the agents, so some wait several
    rounds); the phones stay up until ``done`` is set (the test: the callback has ended)
    and Asterisk is idle. queue_log: each resident ENTERQUEUE, CONNECT, COMPLETE*.
    CallerLost when a resident's call never reached Asterisk (sipp's failure)."""
    if asterisk.active_channels() != 0:
        raise HarnessError("Asterisk has calls up from an earlier scenario")
    mark, started = asterisk.mark(), time.time()
    hold = -(-callers // len(asterisk.agents)) * (ring_s + talk_s + 3) + 60
    people = [Caller(asterisk.next_number(), f"BLEND-{i}", hangup_after_s=hold)
              for i in range(1, callers + 1)]
    phones = asterisk.start_phones(ring_s, talk_s)
    phones.append(asterisk.start_callback_phone(1.0, 60.0, keys="1"))
    with calls_up(asterisk, phones) as residents:
        residents.extend(asterisk.start_callers(people))
        asterisk.wait_callers(residents, hold + 30)
        if not done.wait(timeout):
            raise HarnessError(f"the test did not end the scenario within {timeout:.0f} s")
        asterisk.wait_idle()
    asterisk.queued_or_lost(mark, people, residents)
    calls = [PlacedCall(c, s.call_id or "", s.exit_code)
             for c, s in zip(people, residents, strict=True)]
    return ScenarioResult(calls, list(asterisk.agents), mark, asterisk.queue_log_since(mark),
                          started, time.time())


@contextmanager
def calls_up(asterisk: AsteriskHarness, phones: list[SippProcess],
             ) -> Iterator[list[SippProcess]]:
    """``phones`` up (bound before anything rings them) while the block runs; it adds the
    residents' sipps it starts to the list yielded. On leaving, every one is stopped, and
    on an error Asterisk's calls are hung up first, leaving it idle for the next test."""
    residents: list[SippProcess] = []
    try:
        time.sleep(0.3)
        yield residents
    except BaseException:
        asterisk.hangup_all()
        raise
    finally:
        asterisk.stop_sipps(residents)
        asterisk.stop_sipps(phones)


def _until(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the scenario did not get there in time")
        time.sleep(0.1)
