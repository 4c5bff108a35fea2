"""Record what the real Asterisk sends for a scenario, as a fixture: ``S.ami`` and ``S.queue_log``.

    python -m tests.asterisk.capture OUTDIR timeout abandoned_long answered

Each scenario runs on a fresh harness session (root, like the real-call tests) while a
second AMI session of the service's least-rights account records every byte Asterisk
sends, exactly as received (banner, login response, events). ``S.queue_log`` holds
Asterisk's own queue_log lines for the same calls: the ground truth a test's expectation
is written from. Fixtures written by hand encode what we expect, not what Asterisk does;
these are what it does.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callcentre.ami.pbx import originate_fields
from callcentre.domain.callback_policy import AnswerCheck
from callcentre.ports import OriginateRequest
from tests.asterisk import prompts, scenarios
from tests.asterisk.harness import AsteriskHarness, ScenarioResult


def callback(check: AnswerCheck, talk_s: float, keys: str = "", greeting: bool = False,
             ) -> Callable[[AsteriskHarness, Recorder], ScenarioResult]:
    """An agent-first callback as the service places it (ami/pbx.py originate_fields): agent1
    answers after 1 s and stays; the resident's phone answers after 1 s, keys ``keys``,
    plays a greeting or not, and hangs up after ``talk_s`` unless Asterisk does first."""
    def run(asterisk: AsteriskHarness, recorder: Recorder) -> ScenarioResult:
        mark, started = asterisk.mark(), time.time()
        request = OriginateRequest(f"callback-capture-{check.value}-1", "PJSIP/agent1",
                                   "07700900555", "CB-CAPTURE-1", 1,
                                   datetime.now(UTC) + timedelta(hours=4), 10,
                                   '"Council callback" <callback>', check)
        with asterisk.callback_phones(talk_s=talk_s, keys=keys, greeting=greeting):
            recorder.send("Originate", originate_fields(request))
            time.sleep(1.0)  # the agent's channel exists from here on
            asterisk.wait_idle(timeout=talk_s + 60)
        return ScenarioResult([], ["agent1"], mark, asterisk.queue_log_since(mark), started,
                              time.time())
    return run


def callback_survey(asterisk: AsteriskHarness, recorder: Recorder) -> ScenarioResult:
    """A confirmed callback with the post-call survey on (Dial option F) and no announcement:
    agent1 answers after 1 s and hangs up 6 s later; the resident answers after 1 s, keys 1
    (SIP INFO) 2 s later, then 1 and 4 (RFC 2833) once the agent has gone."""
    mark, started = asterisk.mark(), time.time()
    request = OriginateRequest("callback-capture-survey-1", "PJSIP/agent1", "07700900556",
                               "CB-SURVEY-1", 1, datetime.now(UTC) + timedelta(hours=4), 10,
                               '"Council callback" <callback>', AnswerCheck.CONFIRM)
    with scenarios.globals_set(asterisk, CALLCENTRE_SURVEY=("yes", "no"),
                               CALLCENTRE_CALLBACK_ANNOUNCE=("no", "yes")), \
            asterisk.callback_phones(talk_s=30, keys="1", agent_talk_s=6, survey_keys="14"):
        recorder.send("Originate", originate_fields(request))
        time.sleep(1.0)  # the agent's channel exists from here on
        asterisk.wait_idle(timeout=90)
    return ScenarioResult([], ["agent1"], mark, asterisk.queue_log_since(mark), started,
                          time.time())


def callback_language(asterisk: AsteriskHarness, recorder: Recorder) -> ScenarioResult:
    """A confirmed callback in Irish to agent2 (the lab's Irish speaker), as the service
    places it with the callback's language: agent2 answers after 1 s; the resident's phone
    answers after 1 s, keys 1 2 s later and hangs up after 6 s."""
    mark, started = asterisk.mark(), time.time()
    request = OriginateRequest("callback-capture-language-1", "PJSIP/agent2", "07700900557",
                               "CB-LANG-1", 1, datetime.now(UTC) + timedelta(hours=4), 10,
                               '"Council callback" <callback>', AnswerCheck.CONFIRM, "ga")
    with asterisk.callback_phones(agent="agent2", talk_s=6, keys="1"):
        recorder.send("Originate", originate_fields(request))
        time.sleep(1.0)  # the agent's channel exists from here on
        asterisk.wait_idle(timeout=60)
    return ScenarioResult([], ["agent2"], mark, asterisk.queue_log_since(mark), started,
                          time.time())


def language(asterisk: AsteriskHarness, recorder: Recorder) -> ScenarioResult:
    """The language menu with espeak-ng's prompts installed: the resident keys 2 (Irish)."""
    prompts.install(asterisk.root)
    return scenarios.language(asterisk)


def wait_offer(asterisk: AsteriskHarness, recorder: Recorder) -> ScenarioResult:
    """scenarios.wait_offer with the recorded session answering as the service does
    (services/waits.py, services/callback_dialler.py): the wait question with WAIT_OFFER (4 h
    from now), WAIT_MINUTES 2 and WAIT_ESTIMATE 120; the callback request that follows with
    CALLBACK_ID 1 and CALLBACK_PROMISED = the time offered."""
    offered = str(int(time.time()) + 4 * 3600)
    answers = {
        "CallcentreWaitQuery": [("WAIT_OFFER", offered), ("WAIT_MINUTES", "2"),
                                ("WAIT_ESTIMATE", "120")],
        "CallcentreCallbackRequest": [("CALLBACK_ID", "1"), ("CALLBACK_PROMISED", offered)],
    }
    stop = threading.Event()

    def answer() -> None:
        done: set[tuple[str, str]] = set()
        while not stop.wait(0.05):
            for frame in b"".join(recorder.chunks()).split(b"\r\n\r\n"):
                headers = dict(line.split(": ", 1) for line in frame.decode(errors="replace")
                               .split("\r\n") if ": " in line)
                name, channel = headers.get("UserEvent", ""), headers.get("Channel", "")
                if name in answers and (name, channel) not in done:
                    done.add((name, channel))
                    for variable, value in answers[name]:
                        recorder.send("Setvar", {"Channel": channel, "Variable": variable,
                                                 "Value": value})

    responder = threading.Thread(target=answer, daemon=True)
    responder.start()
    try:
        return scenarios.wait_offer(asterisk)
    finally:
        stop.set()
        responder.join(5)


SCENARIOS: dict[str, Callable[[AsteriskHarness, Recorder], ScenarioResult]] = {
    "answered": lambda a, r: a.answered(ring_s=2, talk_s=4, case_ref="CASE-answered-1"),
    # long enough in the queue to count (not a short abandon under 5 s)
    "abandoned_long": lambda a, r: a.abandoned(wait_s=9, case_ref="CASE-abandoned-1"),
    "timeout": lambda a, r: a.timeout(max_wait_s=4),
    # what a resync sees of a call answered while the service could not see it
    "answered_resync": lambda a, r: r.ask_during(
        lambda: a.answered(ring_s=1, talk_s=8), after_s=5,
        actions=("CoreShowChannels", "QueueStatus")),
    # queue exits named as queue_log names them (tests/asterisk/scenarios.py)
    "exit_with_key": lambda a, r: scenarios.exit_with_key(a),
    "exit_with_key_rejoin": lambda a, r: scenarios.exit_with_key(a, rejoin=True),
    "leave_empty": lambda a, r: scenarios.leave_empty(a),
    "transfer": lambda a, r: scenarios.transfer(a),
    "attended_transfer": lambda a, r: scenarios.transfer(a, attended=True),
    "two_queues": lambda a, r: scenarios.two_queues(a),
    # the post-call survey (#15): answered, the agent hangs up, the resident keys 1 and 4
    "survey": lambda a, r: scenarios.survey(a),
    "callback_survey": callback_survey,
    # languages (#15): the menu, key 2 for Irish, council-ga; a callback in Irish
    "language": language,
    "callback_language": callback_language,
    # the estimated wait's loop (#14): let out every 3 s, back in at QUEUEPOSITION, answered
    "wait_loop": lambda a, r: scenarios.wait_loop(a),
    # a long wait told with a callback offer, key 1 back in the queue (the session answers)
    "wait_offer": wait_offer,
    # callbacks: the resident presses 1 and talks; a machine that talks and never keys;
    # AMD hearing a recorded greeting; AMD hearing nothing (sipp sends no RTP of its own)
    "callback_confirmed": callback(AnswerCheck.CONFIRM, talk_s=6, keys="1"),
    "callback_unconfirmed": callback(AnswerCheck.CONFIRM, talk_s=20, greeting=True),
    "callback_amd_machine": callback(AnswerCheck.MACHINE_DETECTION, talk_s=15, greeting=True),
    "callback_amd_silent": callback(AnswerCheck.MACHINE_DETECTION, talk_s=6),
}


class Recorder:
    """A raw AMI session in a thread: logs in, then keeps every byte it receives."""

    def __init__(self, asterisk: AsteriskHarness) -> None:
        self._sock = socket.create_connection((asterisk.ami_host, asterisk.ami_port), 10)
        self._sock.settimeout(0.2)
        login = (f"Action: Login\r\nActionID: capture-1\r\nUsername: {asterisk.ami_username}\r\n"
                 f"Secret: {asterisk.ami_secret}\r\nEvents: on\r\n\r\n")
        self._sock.sendall(login.encode())
        self._chunks: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            self._chunks.append(data)

    def chunks(self) -> list[bytes]:
        """What has been received so far (a copy: the reader thread appends)."""
        return list(self._chunks)

    def send(self, action: str, fields: Mapping[str, str | Sequence[str]]) -> None:
        """Send one action on the recorded session (ActionID capture-<action>)."""
        lines = [f"Action: {action}", f"ActionID: capture-{action}"]
        for key, value in fields.items():
            lines += [f"{key}: {v}" for v in ([value] if isinstance(value, str) else value)]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def ask_during(self, scenario: Callable[[], ScenarioResult], after_s: float,
                   actions: tuple[str, ...]) -> ScenarioResult:
        """Run ``scenario`` and send ``actions`` on the recorded session ``after_s`` in."""
        timer = threading.Timer(after_s, lambda: self._sock.sendall(b"".join(
            f"Action: {a}\r\nActionID: capture-{a}\r\n\r\n".encode() for a in actions)))
        timer.start()
        try:
            return scenario()
        finally:
            timer.cancel()

    def stop(self) -> bytes:
        """Log off (the session ends with Goodbye, as a real one does) and return it all."""
        time.sleep(1.0)  # the last events of the scenario (Hangup, UNPAUSE) are on their way
        self._sock.sendall(b"Action: Logoff\r\nActionID: capture-2\r\n\r\n")
        self._thread.join(10)  # until Asterisk closes the connection
        self._stop.set()
        self._sock.close()
        return b"".join(self._chunks)


def queue_log_text(result: ScenarioResult) -> str:
    return "".join("|".join([str(e.time), e.callid, e.queue, e.agent, e.event, *e.data]) + "\n"
                   for e in result.queue_log)


def capture(out: Path, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        with AsteriskHarness() as asterisk:
            recorder = Recorder(asterisk)
            time.sleep(0.5)  # logged in before the first call
            result = SCENARIOS[name](asterisk, recorder)
            (out / f"{name}.ami").write_bytes(recorder.stop())
            (out / f"{name}.queue_log").write_text(queue_log_text(result))
            print(f"{name}: {len(result.queue_log)} queue_log lines -> {out}/{name}.ami")


if __name__ == "__main__":
    capture(Path(sys.argv[1]), sys.argv[2:] or list(SCENARIOS))
