"""sipp processes that play residents and phones against the harness's Asterisk.

One sipp per resident (a UAC placing exactly one call) and one per phone (a UAS answering
calls until it is stopped). Every sipp gets ``-timeout``, binds 127.0.0.1 only, logs into
the session directory and is ended by its own PID (never by name).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SIPP_TEMPLATES = Path(__file__).resolve().parent / "sipp"
HOST = "127.0.0.1"
# Answer() waits up to 0.5 s for the caller's first RTP frame, and sipp sends none; keys
# sent before the dialplan reaches Read() would be lost, so the first one waits this long.
FIRST_KEY_DELAY_MS = 1200
NEXT_KEY_DELAY_MS = 150
SURVEY_KEY_GAP_MS = 2000  # Read() returns on the key; the next question's beep comes first
# sipp's own RFC 2833 recordings (sip-tester), one per key, telephone-event at payload type
# 101 (its play_dtmf action sent events Asterisk read as key 0 with no duration: not used)
DTMF_PCAP = "/usr/share/sip-tester/dtmf_2833_{}.pcap"
DTMF_NAMES = {"#": "pound", "*": "star"}
TELEPHONE_EVENT = "0 101\n      a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000\n      a=fmtp:101 0-16"


@dataclass(frozen=True)
class Caller:
    """A resident who calls the council.

    ``case_ref`` is sent as the SIP header X-Case-Ref (None: no header, so the dialplan asks
    for it with Read()). ``keys`` are DTMF keys sent (as SIP INFO) once the call is answered;
    None means "#" when there is no header (skip the question at once) and nothing otherwise.
    ``hangup_after_s``: the resident hangs up that long after Asterisk answered (the time
    taken by the keys not counted) unless Asterisk has hung up first.
    ``survey_keys``: keys for the post-call survey, sent as RFC 2833 telephone-events in RTP
    (sipp plays its DTMF_PCAP recordings; the SDP then offers telephone-event/8000), the first
    ``survey_after_s`` after the keys above (once the agent has hung up), the next
    SURVEY_KEY_GAP_MS apart; ``hangup_after_s`` then counts from the last of them.
    """

    number: str
    case_ref: str | None = None
    hangup_after_s: float = 120.0
    keys: str | None = None
    dial: str = "1000"
    survey_keys: str = ""  # RFC 2833 (RTP events), one a question, for the post-call survey
    survey_after_s: float = 6.0  # when the first survey key goes, after the keys above

    def keys_to_send(self) -> str:
        if self.keys is not None:
            return self.keys
        return "#" if self.case_ref is None else ""


GREETING_PCAP = "/usr/share/sip-tester/g711a.pcap"  # sipp's (sip-tester's) own A-law recording


@dataclass(frozen=True)
class Phone:
    """A phone that rings ``ring_s`` then answers and talks ``talk_s`` (then hangs up).

    ``keys``: DTMF keys it sends as SIP INFO once answered, the first ``key_delay_s`` after
    the answer (a resident confirming a callback with 1). ``greeting``: it plays a recording
    once answered (an answering machine's greeting; the phones send no RTP otherwise).
    ``transfer_to``: instead of hanging up it blind-transfers the caller there (SIP REFER);
    with ``consult_s`` too, the transfer is attended: it calls ``transfer_to`` first, talks
    ``consult_s``, then transfers the caller to that call (REFER with Replaces).
    ``survey_keys``: the post-call survey's keys (RFC 2833, as ``Caller.survey_keys``),
    the first ``survey_after_s`` after the last of ``keys``; ``talk_s`` then counts from them."""

    name: str
    port: int
    ring_s: float
    talk_s: float
    transfer_to: str | None = None
    consult_s: float | None = None
    keys: str = ""
    key_delay_s: float = 2.0
    greeting: bool = False
    survey_keys: str = ""  # RFC 2833, as Caller's: a resident's survey after a callback
    survey_after_s: float = 5.0  # after the last of ``keys``


@dataclass(frozen=True)
class PlacedCall:
    """What one resident's sipp did: ``call_id`` is the SIP Call-ID of the INVITE."""

    caller: Caller
    call_id: str
    exit_code: int | None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def render(template: str, values: dict[str, object]) -> str:
    for key, value in values.items():
        template = template.replace(f"@@{key}@@", str(value))
    if "@@" in template:
        start = template.index("@@")
        raise ValueError(f"unfilled placeholder near {template[start:start + 30]!r}")
    return template


def survey_key_blocks(keys: str, after_s: float) -> str:
    """sipp steps that send ``keys`` as RFC 2833: the first ``after_s`` on, then a gap each."""
    blocks = []
    for i, key in enumerate(keys):
        pause = after_s * 1000 if i == 0 else SURVEY_KEY_GAP_MS
        blocks.append(f'  <pause milliseconds="{round(pause)}"/>\n'
                      f'  <nop><action><exec play_pcap_audio='
                      f'"{DTMF_PCAP.format(DTMF_NAMES.get(key, key))}"/></action></nop>\n')
    return "".join(blocks)


def resident_xml(caller: Caller) -> str:
    keys = caller.keys_to_send()
    blocks = []
    key_template = (SIPP_TEMPLATES / "keys.xml.in").read_text()
    for i, key in enumerate(keys):
        blocks.append(render(key_template, {
            "KEY": key, "CSEQ": 2 + i, "DIAL": caller.dial, "NUMBER": caller.number,
            "PAUSE_MS": FIRST_KEY_DELAY_MS if i == 0 else NEXT_KEY_DELAY_MS,
        }))
    blocks.append(survey_key_blocks(caller.survey_keys, caller.survey_after_s))
    header = f"X-Case-Ref: {caller.case_ref}" if caller.case_ref is not None else ""
    xml = render((SIPP_TEMPLATES / "resident.xml.in").read_text(), {
        "NUMBER": caller.number, "DIAL": caller.dial, "CASE_HEADER": header,
        "KEYS": "".join(blocks), "HANGUP_MS": round(caller.hangup_after_s * 1000),
        "CODECS": TELEPHONE_EVENT if caller.survey_keys else "0\n      a=rtpmap:0 PCMU/8000",
    })
    # an absent header leaves a blank line, which would end the SIP headers early
    return "\n".join(line for line in xml.split("\n") if line.strip() or not line)


def phone_xml(phone: Phone) -> str:
    if phone.transfer_to is not None:
        values: dict[str, object] = {"USER": phone.name, "RING_MS": round(phone.ring_s * 1000),
                                     "TALK_MS": round(phone.talk_s * 1000),
                                     "TARGET": phone.transfer_to}
        if phone.consult_s is None:
            return render((SIPP_TEMPLATES / "transfer_phone.xml.in").read_text(), values)
        values["CONSULT_MS"] = round(phone.consult_s * 1000)
        return render((SIPP_TEMPLATES / "attended_phone.xml.in").read_text(), values)
    after = ""
    if phone.greeting:
        after += (f'  <nop><action><exec play_pcap_audio="{GREETING_PCAP}"/></action></nop>\n')
    key_template = (SIPP_TEMPLATES / "phone_keys.xml.in").read_text()
    for i, key in enumerate(phone.keys):
        delay = phone.key_delay_s * 1000 if i == 0 else NEXT_KEY_DELAY_MS
        after += render(key_template, {"KEY": key, "CSEQ": 2 + i, "USER": phone.name,
                                       "PAUSE_MS": round(delay)})
    after += survey_key_blocks(phone.survey_keys, phone.survey_after_s)
    codec = "8\n      a=rtpmap:8 PCMA/8000" if phone.greeting else "0\n      a=rtpmap:0 PCMU/8000"
    codec = TELEPHONE_EVENT if phone.survey_keys else codec
    return render((SIPP_TEMPLATES / "phone.xml.in").read_text(), {
        "USER": phone.name, "RING_MS": round(phone.ring_s * 1000),
        "TALK_MS": round(phone.talk_s * 1000), "CODEC": codec, "AFTER_ANSWER": after,
    })


@dataclass
class SippProcess:
    """One running sipp. ``stop()`` ends it by PID: SIGUSR1 (finish calls), TERM, KILL."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    pidfile: Path
    logs: Path
    call_id: str | None = None
    exit_code: int | None = field(default=None, init=False)

    @classmethod
    def start(cls, name: str, xml: str, *, port: int, media_port: int, logs: Path,
              timeout_s: float, remote: str | None = None,
              call_id: str | None = None) -> SippProcess:
        logs.mkdir(parents=True, exist_ok=True)
        scenario = logs / f"{name}.xml"
        scenario.write_text(xml)
        args = ["sipp"] + ([remote] if remote else []) + [
            "-sf", str(scenario), "-i", HOST, "-p", str(port), "-mi", HOST,
            "-mp", str(media_port), "-timeout", f"{max(1, round(timeout_s))}s",
            "-nostdin", "-aa",
            "-trace_err", "-error_file", str(logs / f"{name}.errors.log"),
            "-trace_msg", "-message_file", str(logs / f"{name}.messages.log"),
        ]
        if remote:  # a resident: exactly one call, and our own Call-ID so tests can match it
            args += ["-m", "1", "-l", "1", "-timeout_error", "-cid_str", f"{call_id}"]
        with (logs / f"{name}.out").open("wb") as out:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        pidfile = logs / f"{name}.pid"
        pidfile.write_text(str(proc.pid))
        return cls(name, port, proc, pidfile, logs, call_id)

    def wait(self, timeout: float) -> int | None:
        try:
            self.exit_code = self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None
        return self.exit_code

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        for sig, grace in ((signal.SIGUSR1, 3.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            if not self.running():
                break
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            self.wait(grace)
        self.exit_code = self.proc.poll()
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()
        return self.exit_code

    def output_tail(self, lines: int = 15) -> str:
        parts = []
        for suffix in (".out", ".errors.log"):
            path = self.logs / f"{self.name}{suffix}"
            if path.exists():
                parts += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(parts)


def reap_stale(pid_dir: Path) -> None:
    """End sipps a crashed earlier session left running (PID files in ``pid_dir``)."""
    for pidfile in pid_dir.glob("**/*.pid"):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pidfile.read_text())
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sipp":
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            pidfile.unlink()
