"""A real Asterisk 22 (Debian sid) for the integration tests, and sipp calls against it.

    with AsteriskHarness() as asterisk:          # or the session fixture `asterisk`
        result = asterisk.answered(ring_s=1, talk_s=2, case_ref="HOU-1")
        [e.event for e in result.queue_log]      # ENTERQUEUE, CONNECT, COMPLETEAGENT

Provisioning: ``provision.sh`` builds (once, cached) a debootstrap chroot with Debian sid's
Asterisk at ``$CALLCENTRE_ASTERISK_ROOT`` (default /var/cache/callcentre/asterisk-sid).

Each session gets a directory of its own inside the chroot (``/srv/callcentre-test/<id>``:
etc, log, run, spool, lib, cache) and a block of loopback ports of its own, so two test runs
on one machine do not meet. Its etc/ is ``dialplans/*.conf`` unchanged plus the test overlay
(``overlay/``, see its README) and a random AMI secret. Asterisk runs as
``asterisk -f -n`` inside ``unshare --mount``: /proc is mounted in that private mount
namespace only, so it is unmounted by the kernel when Asterisk exits, however it exits.
``stop()`` ends sipps and Asterisk by PID (core stop now, TERM, KILL; the PID is checked to
be an ``asterisk`` whose root is our chroot); a session left behind by a killed test run is
cleaned up by the next one.

Scenario methods are synchronous: they return once every resident's sipp has finished and
Asterisk has no channels left. From an async test, ``await asyncio.to_thread(...)`` them so
the event loop (and an AMI client on it) keeps running meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tests import clock
from tests.asterisk.records import (
    LogMark,
    QueueLogEntry,
    file_size,
    parse_cdrs,
    parse_queue_log,
    read_from,
)
from tests.asterisk.sipp import (
    Caller,
    Phone,
    PlacedCall,
    SippProcess,
    phone_xml,
    reap_stale,
    resident_xml,
)

__all__ = [
    "AsteriskHarness", "Caller", "CallerLost", "HarnessError", "HarnessUnavailable", "LogMark",
    "PlacedCall", "QueueLogEntry", "ScenarioResult",
]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DIALPLANS = REPO / "dialplans"
OVERLAY = HERE / "overlay"
PROVISION = HERE / "provision.sh"
DEFAULT_ROOT = "/var/cache/callcentre/asterisk-sid"
MARKER = ".callcentre-chroot-complete"
SESSIONS = "srv/callcentre-test"  # inside the chroot
HOST = "127.0.0.1"
QUEUE = "council"  # dialplans/extensions.conf CALLCENTRE_QUEUE
INBOUND_NUMBER = "1000"
AMI_USERNAME = "callcentre"  # dialplans/manager.conf
REQUIRED_TOOLS = ("debootstrap", "sipp", "unshare", "chroot")
BUILD_TIMEOUT_S = 1800.0
BOOT_TIMEOUT_S = 60.0

# Port block per session: BLOCK_SIZE ports from a base in PORT_BASES (below the kernel's
# ephemeral range, so outgoing connections do not take them). Offsets inside a block:
SIP, AMI, CALLBACK, AGENTS, RESIDENTS = 0, 1, 2, 10, 40
MAX_AGENTS, MAX_RESIDENTS = 20, 150
MEDIA = 200  # sipp media: 4 ports per sipp (it binds mp and mp+2), by signalling offset
RTP_START, BLOCK_SIZE = 1000, 2000  # Asterisk's RTP range: RTP_START .. BLOCK_SIZE-1
PORT_BASES = range(12000, 32000, BLOCK_SIZE)
DEFAULT_MAX_WAIT = 600  # dialplans/extensions.conf CALLCENTRE_QUEUE_MAX_WAIT: change both together


class HarnessUnavailable(RuntimeError):
    """Asterisk cannot be provisioned on this machine; the message says why."""


class HarnessError(RuntimeError):
    """Asterisk or a sipp did not behave as the harness expected."""


class CallerLost(RuntimeError):
    """A resident's sipp ended its call before Asterisk queued it, and Asterisk kept no record
    of the call at all (no CDR): the call never reached the dialplan. That is the harness's
    sipp failing, not the PBX or the service (seen in full CI runs, one resident of a burst
    with no ENTERQUEUE; alone the scenario passes), so a scenario may be placed again once."""


@dataclass(frozen=True)
class ScenarioResult:
    """The calls a scenario placed, and the queue_log lines written while it ran."""

    calls: list[PlacedCall]
    agents: list[str]
    mark: LogMark
    queue_log: list[QueueLogEntry]
    started: float
    finished: float

    @property
    def numbers(self) -> list[str]:
        return [c.caller.number for c in self.calls]

    @property
    def call_ids(self) -> list[str]:
        return [c.call_id for c in self.calls]

    def events(self, *names: str) -> list[QueueLogEntry]:
        return [e for e in self.queue_log if not names or e.event in names]

    def uniqueid_of(self, number: str) -> str:
        """Asterisk's Uniqueid (= Linkedid) of the resident's channel, from ENTERQUEUE."""
        for entry in self.events("ENTERQUEUE"):
            if len(entry.data) > 1 and entry.data[1] == number:
                return entry.callid
        raise KeyError(f"no ENTERQUEUE for caller {number}")


class _PortBlock:
    """A block of loopback ports held (flock) for the whole session."""

    def __init__(self) -> None:
        self.base, self._lock = self._claim()
        self._free = list(range(RESIDENTS, RESIDENTS + MAX_RESIDENTS))

    @staticmethod
    def _claim() -> tuple[int, int]:
        lock_dir = Path("/run/lock") if Path("/run/lock").is_dir() else Path("/tmp")
        for base in PORT_BASES:
            fd = os.open(lock_dir / f"callcentre-asterisk-ports-{base}.lock",
                         os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if _ports_free(base):
                return base, fd
            os.close(fd)
        raise HarnessError(f"no free block of {BLOCK_SIZE} loopback ports in {PORT_BASES}")

    def port(self, offset: int) -> int:
        return self.base + offset

    def media(self, port: int) -> int:
        return self.base + MEDIA + 4 * (port - self.base)

    def take_resident_port(self) -> int:
        if not self._free:
            raise HarnessError(f"more than {MAX_RESIDENTS} residents at once")
        return self.port(self._free.pop(0))

    def give_back(self, port: int) -> None:
        self._free.append(port - self.base)

    def release(self) -> None:
        os.close(self._lock)


def _ports_free(base: int) -> bool:
    checks = [(socket.SOCK_STREAM, base + AMI), (socket.SOCK_DGRAM, base + SIP),
              (socket.SOCK_DGRAM, base + CALLBACK)]
    checks += [(socket.SOCK_DGRAM, base + AGENTS + i) for i in range(MAX_AGENTS)]
    for kind, port in checks:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
    return True


def _render(template: Path, values: dict[str, object]) -> str:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", str(value))
    return text


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path} does not exist)"


class AsteriskHarness:
    """One Asterisk for a test session. Attributes other tests use:

    ``ami_host``, ``ami_port``, ``ami_username``, ``ami_secret``: the least-rights AMI
    account of dialplans/manager.conf. ``sip_port``: Asterisk's SIP (UDP). ``queue``: the
    queue name. ``agents``: the member endpoints (``agent1`` ... rung as ``PJSIP/agentN``).
    ``log_dir``: the session's /var/log/asterisk on the host.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, agents: int = 3,
                 keep: bool | None = None) -> None:
        if not 1 <= agents <= MAX_AGENTS:
            raise ValueError(f"agents must be 1..{MAX_AGENTS}")
        self.root = Path(root or os.environ.get("CALLCENTRE_ASTERISK_ROOT") or DEFAULT_ROOT)
        self.agents = [f"agent{i}" for i in range(1, agents + 1)]
        self.keep = keep if keep is not None else bool(os.environ.get("CALLCENTRE_ASTERISK_KEEP"))
        self.queue = QUEUE
        self.ami_host = HOST
        self.ami_username = AMI_USERNAME
        self.ami_secret = secrets.token_urlsafe(24)
        self.session_id = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.session_dir = self.root / SESSIONS / self.session_id
        self.etc_dir = self.session_dir / "etc"
        self.log_dir = self.session_dir / "log"
        self.timings: dict[str, float] = {}
        self._ports: _PortBlock | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._root_lock: int | None = None
        self._sipps: list[SippProcess] = []
        self._numbers = itertools.count(1)
        self.boot_mark = LogMark(0, 0, 0)  # where the logs ended once Asterisk had booted

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> AsteriskHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def ami_port(self) -> int:
        return self._block.port(AMI)

    @property
    def sip_port(self) -> int:
        return self._block.port(SIP)

    @property
    def _block(self) -> _PortBlock:
        if self._ports is None:
            raise HarnessError("harness not started")
        return self._ports

    def start(self) -> AsteriskHarness:
        """Provision (cached), configure and boot Asterisk; raise HarnessUnavailable if the
        machine cannot (not root, tools missing, chroot build failed)."""
        self.check_prerequisites()
        t0 = time.monotonic()
        self.provision()
        self.timings["provision_s"] = time.monotonic() - t0
        t1 = time.monotonic()
        try:
            self._hold_root()
            self._reap_stale_sessions()
            self._ports = _PortBlock()
            self._write_config()
            self._boot()
        except BaseException:
            self.stop()
            raise
        self.timings["boot_s"] = time.monotonic() - t1
        return self

    @staticmethod
    def check_prerequisites() -> None:
        if os.environ.get("CALLCENTRE_SKIP_ASTERISK"):
            raise HarnessUnavailable("CALLCENTRE_SKIP_ASTERISK is set")
        if os.geteuid() != 0:
            raise HarnessUnavailable(
                f"not root (uid {os.geteuid()}): building the chroot and running Asterisk in "
                "it need root (debootstrap, chroot, mount)")
        path = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"  # debootstrap, chroot live there
        missing = [t for t in REQUIRED_TOOLS if shutil.which(t, path=path) is None]
        if missing:
            raise HarnessUnavailable(
                f"missing {', '.join(missing)}: run tests/system-deps.sh as root "
                "(installs debootstrap and sip-tester)")

    def provision(self) -> None:
        """Build the cached chroot unless a complete one exists (provision.sh)."""
        log = Path(f"{self.root}.build.log")
        env = {**os.environ, "CALLCENTRE_ASTERISK_ROOT": str(self.root)}
        try:
            run = subprocess.run(["bash", str(PROVISION), "build"], env=env, check=False,
                                 capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired as err:
            raise HarnessUnavailable(f"building the Asterisk chroot took over {BUILD_TIMEOUT_S:.0f}"
                                     f" s; last lines of {log}:\n{_tail(log)}") from err
        if run.returncode != 0:
            raise HarnessUnavailable(
                f"building the Asterisk chroot at {self.root} failed (exit {run.returncode}): "
                f"{run.stderr.strip()[-600:]}\nlast lines of {log}:\n{_tail(log)}")

    def stop(self) -> None:
        """Stop sipps and Asterisk, free the ports; safe to call more than once."""
        try:
            for sipp in self._sipps:
                sipp.stop()
            self._sipps.clear()
            if self._proc is not None:
                proc, self._proc = self._proc, None
                self._stop_asterisk(proc)
        finally:
            if self._ports is not None:
                self._ports.release()
                self._ports = None
            if not self.keep and self.session_dir.exists():
                shutil.rmtree(self.session_dir, ignore_errors=True)
            if self._root_lock is not None:
                os.close(self._root_lock)
                self._root_lock = None

    def _hold_root(self) -> None:
        # Shared lock on the chroot for the session: provision.sh rebuilds only under an
        # exclusive one, so it never pulls the chroot from under a running Asterisk.
        self._root_lock = os.open(f"{self.root}.lock", os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self._root_lock, fcntl.LOCK_SH)
        if not (self.root / MARKER).exists():
            raise HarnessError(f"{self.root} was rebuilt or removed while we started; run again")

    def _reap_stale_sessions(self) -> None:
        """Clean up after test runs that died without stopping their Asterisk."""
        for old in (self.root / SESSIONS).glob("*"):
            owner = old.name.split("-", 1)[0]
            if owner.isdigit() and Path(f"/proc/{owner}").exists():
                continue  # its pytest is still running (or kept it on purpose)
            reap_stale(old / "sipp")
            with contextlib.suppress(ValueError, OSError):
                pid = int((old / "run" / "asterisk.pid").read_text())
                if self._is_our_asterisk(pid):
                    os.kill(pid, signal.SIGKILL)
            shutil.rmtree(old, ignore_errors=True)

    def _is_our_asterisk(self, pid: int) -> bool:
        try:
            root = os.readlink(f"/proc/{pid}/root")
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return False
        return root == str(self.root) and comm == "asterisk"

    # ------------------------------------------------------------------ config
    def _inside(self, path: Path) -> str:
        """The path as Asterisk sees it inside the chroot."""
        return "/" + str(path.relative_to(self.root))

    def _write_config(self) -> None:
        uid, gid = self._asterisk_ids()
        for sub in ("log/cdr-custom", "log/cel-custom", "run", "spool/outgoing", "lib", "cache",
                    "sipp"):
            (self.session_dir / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("log", "log/cdr-custom", "log/cel-custom", "run", "spool",
                    "spool/outgoing", "lib", "cache"):
            os.chown(self.session_dir / sub, uid, gid)
        overlay_dir = self.etc_dir / "callcentre-test"
        overlay_dir.mkdir(parents=True)
        for conf in sorted(DIALPLANS.glob("*.conf")):
            shutil.copyfile(conf, self.etc_dir / conf.name)
        for name, text in self._overlay().items():
            (overlay_dir / f"{name}.conf").write_text(text)
            with (self.etc_dir / f"{name}.conf").open("a") as f:
                f.write(f'\n; --- added by tests/asterisk/harness.py ---\n'
                        f'#include "callcentre-test/{name}.conf"\n')
        (self.etc_dir / "callcentre-ami-secret.conf").write_text(f"secret = {self.ami_secret}\n")
        with (self.etc_dir / "asterisk.conf").open("a") as f:
            f.write(self._directories())
        for path in [self.etc_dir, overlay_dir, *self.etc_dir.rglob("*.conf")]:
            os.chown(path, 0, gid)
            path.chmod(0o750 if path.is_dir() else 0o640)

    def _overlay(self) -> dict[str, str]:
        b = self._block
        agents = "".join(
            _render(OVERLAY / "agent.pjsip.conf.in", {"N": i, "PORT": b.port(AGENTS + i - 1)})
            for i in range(1, len(self.agents) + 1))
        members = "\n".join(f"member => PJSIP/{a},0,Agent {a[5:]},PJSIP/{a}" for a in self.agents)
        values = {"AMI_PORT": b.port(AMI), "SIP_PORT": b.port(SIP),
                  "CALLBACK_PORT": b.port(CALLBACK), "MEMBERS": members,
                  "RTP_START": b.port(RTP_START), "RTP_END": b.port(BLOCK_SIZE - 1)}
        out = {name: _render(OVERLAY / f"{name}.conf.in", values)
               for name in ("manager", "pjsip", "queues", "extensions", "rtp")}
        out["pjsip"] += agents
        return out

    def _directories(self) -> str:
        s = self._inside(self.session_dir)
        return ("\n; --- added by tests/asterisk/harness.py: this session's own directories ---\n"
                "[directories]\n"
                f"astetcdir => {s}/etc\nastlogdir => {s}/log\nastrundir => {s}/run\n"
                f"astspooldir => {s}/spool\nastvarlibdir => /var/lib/asterisk\n"
                f"astdbdir => {s}/lib\nastkeydir => /usr/share/asterisk\n"
                f"astcachedir => {s}/cache\nastdatadir => /usr/share/asterisk\n"
                "astmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules\n"
                "astagidir => /usr/share/asterisk/agi-bin\nastsbindir => /usr/sbin\n")

    def _asterisk_ids(self) -> tuple[int, int]:
        for line in (self.root / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "asterisk":
                return int(fields[2]), int(fields[3])
        raise HarnessError(f"no asterisk user in {self.root}/etc/passwd")

    # ------------------------------------------------------------------ Asterisk process
    @property
    def _conf(self) -> str:
        return self._inside(self.etc_dir / "asterisk.conf")

    def _boot(self) -> None:
        script = ('mount -t proc proc "$1/proc" && '
                  'exec chroot "$1" /usr/sbin/asterisk -C "$2" -f -n -vvv')
        with (self.session_dir / "asterisk.out").open("wb") as out:
            self._proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--",
                 "sh", "-c", script, "sh", str(self.root), self._conf],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=self._asterisk_env())
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while not self._ami_banner():
            if self._proc.poll() is not None:
                raise HarnessError(f"Asterisk exited at start (code {self._proc.returncode}):\n"
                                   f"{_tail(self.session_dir / 'asterisk.out')}")
            if time.monotonic() > deadline:
                raise HarnessError(f"AMI did not answer on {HOST}:{self.ami_port} within "
                                   f"{BOOT_TIMEOUT_S:.0f} s")
            time.sleep(0.1)
        self.cli("core waitfullybooted")
        self.boot_mark = self.mark()

    def _asterisk_env(self) -> dict[str, str]:
        """The run's shifted clock (tests/clock.py), for Asterisk too: libfaketime, installed
        inside the chroot by provision.sh, moves every clock it reads by the same offset."""
        env = dict(os.environ)
        offset = round(clock.shift())
        if offset:
            lib = next(self.root.glob("usr/lib/*/faketime/libfaketime.so.1"), None)
            if lib is None:
                raise HarnessError(f"no libfaketime in {self.root}: run provision.sh rebuild")
            env["LD_PRELOAD"] = "/" + str(lib.relative_to(self.root))
            env["FAKETIME"] = f"{offset:+d}"
        return env

    def _ami_banner(self) -> bool:
        try:
            with socket.create_connection((HOST, self.ami_port), timeout=1) as s:
                return s.recv(64).startswith(b"Asterisk Call Manager/")
        except OSError:
            return False

    def _stop_asterisk(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(HarnessError, subprocess.TimeoutExpired):
                self.cli("core stop now", timeout=10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            if self._is_our_asterisk(proc.pid):
                os.kill(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        if proc.poll() is None:  # not ours any more (never seen), or unkillable: say so
            raise HarnessError(f"Asterisk PID {proc.pid} did not stop")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def cli(self, command: str, timeout: float = 20) -> str:
        """Run one Asterisk CLI command (``asterisk -rx``) and return its output."""
        run = subprocess.run(
            ["chroot", str(self.root), "/usr/sbin/asterisk", "-C", self._conf, "-rx", command],
            capture_output=True, text=True, timeout=timeout, check=False)
        if run.returncode != 0:
            raise HarnessError(f"asterisk -rx {command!r} failed ({run.returncode}): "
                               f"{run.stderr.strip() or run.stdout.strip()}")
        return run.stdout

    # ------------------------------------------------------------------ logs
    def mark(self) -> LogMark:
        """Where the logs end now; pass it to the ``*_since`` methods."""
        return LogMark(file_size(self.log_dir / "queue_log"),
                       file_size(self.log_dir / "cdr-custom" / "Master.csv"),
                       file_size(self.log_dir / "messages.log"))

    def queue_log(self) -> list[QueueLogEntry]:
        """Every queue_log line of this session."""
        return parse_queue_log(read_from(self.log_dir / "queue_log"))

    def queue_log_since(self, mark: LogMark) -> list[QueueLogEntry]:
        return parse_queue_log(read_from(self.log_dir / "queue_log", mark.queue_log))

    def cdrs_since(self, mark: LogMark) -> list[dict[str, str]]:
        """CDR rows (records.CDR_FIELDS as keys) written since ``mark``."""
        return parse_cdrs(read_from(self.log_dir / "cdr-custom" / "Master.csv", mark.cdr))

    def problems_since(self, mark: LogMark) -> list[str]:
        """WARNING and ERROR lines of Asterisk's messages.log since ``mark``."""
        text = read_from(self.log_dir / "messages.log", mark.messages)
        return [ln for ln in text.splitlines() if " WARNING[" in ln or " ERROR[" in ln]

    # ------------------------------------------------------------------ state
    def active_channels(self) -> int:
        for line in self.cli("core show channels count").splitlines():
            if "active channel" in line:
                return int(line.split()[0])
        raise HarnessError("could not read the channel count")

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until Asterisk has no channels (and CDRs are written)."""
        deadline = time.monotonic() + timeout
        while self.active_channels() != 0:
            if time.monotonic() > deadline:
                raise HarnessError(f"channels still up after {timeout:.0f} s:\n"
                                   f"{self.cli('core show channels concise')}")
            time.sleep(0.2)
        self._logs_settled()

    def _logs_settled(self, quiet: float = 0.5, longest: float = 5.0) -> None:
        """CDR and queue_log lines follow the last Hangup closely, but later on a busy
        machine: wait until neither file has grown for ``quiet`` seconds (at most
        ``longest``), rather than a fixed time."""
        files = [self.log_dir / "queue_log", self.log_dir / "cdr-custom" / "Master.csv"]
        deadline = time.monotonic() + longest
        sizes = [file_size(f) for f in files]
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = [file_size(f) for f in files]
            if now == sizes:
                return
            sizes = now

    def hangup_all(self) -> None:
        """Hang up every channel and wait until Asterisk is idle (after a failed scenario)."""
        with contextlib.suppress(HarnessError, subprocess.TimeoutExpired):
            self.cli("channel request hangup all")
            self.wait_idle(timeout=15)

    def add_ami_user(self, username: str, read: str, write: str) -> str:
        """Add an AMI account (loopback only) with the given read/write classes and reload
        the manager; returns its secret. For experiments on rights; callcentre's own account
        is ``ami_username``/``ami_secret``."""
        secret = secrets.token_urlsafe(16)
        with (self.etc_dir / "callcentre-test" / "manager.conf").open("a") as f:
            f.write(f"\n[{username}]\nsecret = {secret}\ndeny = 0.0.0.0/0.0.0.0\n"
                    f"permit = 127.0.0.1/255.255.255.255\nread = {read}\nwrite = {write}\n")
        self.cli("manager reload")
        return secret

    def pause_members(self, paused: bool = True, reason: str = "harness",
                      agents: Sequence[str] | None = None) -> None:
        """Pause (or unpause) queue members through the CLI: PAUSE/UNPAUSE in queue_log."""
        verb = "pause" if paused else "unpause"
        for agent in agents or self.agents:
            extra = f" reason {reason}" if paused else ""
            self.cli(f"queue {verb} member PJSIP/{agent} queue {self.queue}{extra}")

    def next_number(self) -> str:
        """A resident number not used before in this session (Ofcom's drama range)."""
        return f"07700{900000 + next(self._numbers)}"

    # ------------------------------------------------------------------ phones and callers
    def start_phones(self, ring_s: float, talk_s: float, agents: Sequence[str] | None = None,
                     timeout_s: float = 600, transfer_to: str | None = None,
                     consult_s: float | None = None) -> list[SippProcess]:
        """Start the agents' phones (all, or those named): each rings ``ring_s`` then answers
        and hangs up after ``talk_s`` (or, with ``transfer_to``, transfers the caller there:
        blind, or attended after ``consult_s`` of consultation; sipp.Phone), for as many
        calls as it gets until stopped."""
        started = []
        for name in agents or self.agents:
            port = self._block.port(AGENTS + self.agents.index(name))
            phone = Phone(name, port, ring_s, talk_s, transfer_to, consult_s)
            started.append(self._start_phone(phone, timeout_s))
        return started

    def start_callback_phone(self, ring_s: float, talk_s: float, timeout_s: float = 600,
                             keys: str = "", greeting: bool = False,
                             survey_keys: str = "") -> SippProcess:
        """The resident's phone behind endpoint resident-cb, which callbacks dial: ``keys``
        (e.g. "1", the confirmation) are sent as SIP INFO 2 s after it answers, and
        ``talk_s`` counts from the last key; ``greeting`` plays a recording once answered
        (an answering machine); ``survey_keys`` answer the post-call survey (RFC 2833) once
        the agent has hung up. See sipp.Phone."""
        phone = Phone("resident-cb", self._block.port(CALLBACK), ring_s, talk_s, keys=keys,
                      greeting=greeting, survey_keys=survey_keys)
        return self._start_phone(phone, timeout_s)

    def _start_phone(self, phone: Phone, timeout_s: float) -> SippProcess:
        port = phone.port
        sipp = SippProcess.start(f"{phone.name}-{time.monotonic_ns()}", phone_xml(phone),
                                 port=port, media_port=self._block.media(port),
                                 logs=self.session_dir / "sipp", timeout_s=timeout_s)
        self._sipps.append(sipp)
        return sipp

    def start_callers(self, callers: Sequence[Caller]) -> list[SippProcess]:
        """One sipp per resident, all started at once; each places exactly one call."""
        started = []
        for caller in callers:
            port = self._block.take_resident_port()
            call_id = f"{self.session_id}-{caller.number}-{time.monotonic_ns()}@{HOST}"
            keys_s = len(caller.keys_to_send()) * 0.5 + 1.5
            keys_s += (caller.survey_after_s + len(caller.survey_keys) * 2
                       if caller.survey_keys else 0)
            sipp = SippProcess.start(
                f"resident-{caller.number}-{time.monotonic_ns()}", resident_xml(caller),
                port=port, media_port=self._block.media(port), logs=self.session_dir / "sipp",
                timeout_s=caller.hangup_after_s + keys_s + 30,
                remote=f"{HOST}:{self.sip_port}", call_id=call_id)
            self._sipps.append(sipp)
            started.append(sipp)
        return started

    def wait_callers(self, sipps: Sequence[SippProcess], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for sipp in sipps:
            if sipp.wait(deadline - time.monotonic()) is None:
                raise HarnessError(f"resident sipp {sipp.name} still running after "
                                   f"{timeout:.0f} s:\n{sipp.output_tail()}")

    def stop_sipps(self, sipps: Sequence[SippProcess]) -> None:
        for sipp in sipps:
            sipp.stop()
            if sipp in self._sipps:
                self._sipps.remove(sipp)
            if sipp.call_id is not None:
                self._block.give_back(sipp.port)

    def run_calls(self, callers: Sequence[Caller], ring_s: float = 1.0, talk_s: float = 2.0,
                  *, agents: Sequence[str] | None = None, timeout: float | None = None,
                  mark: LogMark | None = None, queued: bool = False) -> ScenarioResult:
        """The generic scenario: start the agents' phones (``agents``: names, default all;
        ``[]`` for none), then every resident at once; return when all residents are done and
        Asterisk is idle. Members without a phone should be paused by the caller. The
        result's queue_log starts at ``mark`` (default: now). ``queued``: every resident
        must have entered a queue (queued_or_lost)."""
        if self.active_channels() != 0:
            raise HarnessError("Asterisk has calls up from an earlier scenario")
        mark = mark or self.mark()
        started = time.time()
        names = list(self.agents if agents is None else agents)
        phones = self.start_phones(ring_s, talk_s, names) if names else []
        residents: list[SippProcess] = []
        try:
            time.sleep(0.3)  # let the phones bind before anything rings them
            residents = self.start_callers(callers)
            limit = timeout or max(c.hangup_after_s for c in callers) + 60
            self.wait_callers(residents, limit)
            self.wait_idle()
        except BaseException:
            self.hangup_all()  # leave Asterisk idle for the next test
            raise
        finally:
            self.stop_sipps(residents)
            self.stop_sipps(phones)
        if queued:
            self.queued_or_lost(mark, callers, residents)
        calls = [PlacedCall(c, s.call_id or "", s.exit_code) for c, s in zip(callers, residents,
                                                                               strict=True)]
        return ScenarioResult(calls, names, mark, self.queue_log_since(mark), started,
                              time.time())

    def queued_or_lost(self, mark: LogMark, callers: Sequence[Caller],
                       sipps: Sequence[SippProcess]) -> None:
        """Raise CallerLost (no trace in Asterisk) or HarnessError (Asterisk had the call and
        did not queue it), each with what its sipp said, for the first of ``callers`` (each
        with its sipp) that never entered a queue since ``mark``."""
        queued = {e.data[1] for e in self.queue_log_since(mark)
                  if e.event == "ENTERQUEUE" and len(e.data) > 1}
        for caller, sipp in zip(callers, sipps, strict=True):
            if caller.number in queued:
                continue
            cdrs = [row for row in self.cdrs_since(mark) if caller.number in row.values()]
            said = (f"resident {caller.number} never entered the queue; CDRs {cdrs}; problems "
                    f"{self.problems_since(mark)}; sipp exit {sipp.exit_code}:\n"
                    f"{sipp.output_tail()}")
            raise (HarnessError(said) if cdrs else CallerLost(said))

    # ------------------------------------------------------------------ scenarios
    def answered(self, ring_s: float = 2.0, talk_s: float = 3.0,
                 case_ref: str | None = None) -> ScenarioResult:
        """One resident; an agent's phone rings ``ring_s``, answers, and the agent hangs up
        after ``talk_s``: ENTERQUEUE, CONNECT, COMPLETEAGENT."""
        caller = Caller(self.next_number(), case_ref, hangup_after_s=ring_s + talk_s + 60)
        return self.run_calls([caller], ring_s, talk_s)

    def abandoned(self, wait_s: float = 4.0, case_ref: str | None = None) -> ScenarioResult:
        """Every member paused; one resident hangs up ``wait_s`` after Asterisk answered
        (so about ``wait_s`` - 0.5 s in the queue): PAUSE..., ENTERQUEUE, ABANDON, UNPAUSE..."""
        mark = self.mark()
        self.pause_members(True, "harness-all-paused")
        try:
            caller = Caller(self.next_number(), case_ref, hangup_after_s=wait_s)
            result = self.run_calls([caller], agents=[], mark=mark)
        finally:
            self.pause_members(False)
        return self._until_now(result)

    def timeout(self, max_wait_s: int = 3, case_ref: str | None = None) -> ScenarioResult:
        """Every member paused and the queue's maximum wait set to ``max_wait_s``: the
        resident stays on the line until Queue() gives up (QUEUESTATUS=TIMEOUT; queue_log
        EXITWITHTIMEOUT), then the dialplan hangs up. The default wait is put back after."""
        mark = self.mark()
        self.pause_members(True, "harness-all-paused")
        self.cli(f"dialplan set global CALLCENTRE_QUEUE_MAX_WAIT {max_wait_s}")
        try:
            caller = Caller(self.next_number(), case_ref, hangup_after_s=max_wait_s + 30)
            result = self.run_calls([caller], agents=[], mark=mark)
        finally:
            self.cli(f"dialplan set global CALLCENTRE_QUEUE_MAX_WAIT {DEFAULT_MAX_WAIT}")
            self.pause_members(False)
        return self._until_now(result)

    def noanswer_then_abandon(self, wait_s: float = 20.0,
                              case_ref: str | None = None) -> ScenarioResult:
        """Agents' phones ring and never answer; after the 15 s member timeout the queue
        logs RINGNOANSWER and rings the next; the resident gives up after ``wait_s``
        (ABANDON, and RINGCANCELED for the agent ringing then)."""
        caller = Caller(self.next_number(), case_ref, hangup_after_s=wait_s)
        return self.run_calls([caller], ring_s=3600, talk_s=1)

    def burst(self, callers: int = 20, agents: int = 3, ring_s: float = 0.5,
              talk_s: float = 1.0) -> ScenarioResult:
        """``callers`` residents at once against ``agents`` phones; every call is answered
        in turn. Members beyond ``agents`` are paused meanwhile. Every resident enters the
        queue; a burst that lost one to sipp (CallerLost) is placed again, once, with a
        warning, and the result is the second burst's."""
        if not 1 <= agents <= len(self.agents):
            raise ValueError(f"agents must be 1..{len(self.agents)}")
        try:
            return self._burst(callers, agents, ring_s, talk_s)
        except CallerLost as lost:
            warnings.warn(f"the burst placed again: {lost}", stacklevel=2)
            return self._burst(callers, agents, ring_s, talk_s)

    def _burst(self, callers: int, agents: int, ring_s: float, talk_s: float,
               ) -> ScenarioResult:
        on, off = self.agents[:agents], self.agents[agents:]
        rounds = -(-callers // agents)
        hold = rounds * (ring_s + talk_s + 3) + 60
        residents = [Caller(self.next_number(), f"BURST-{self.session_id}-{i}",
                            hangup_after_s=hold) for i in range(1, callers + 1)]
        mark = self.mark()
        if off:
            self.pause_members(True, "harness-burst", off)
        try:
            result = self.run_calls(residents, ring_s, talk_s, agents=on, timeout=hold + 30,
                                    mark=mark, queued=True)
        finally:
            if off:
                self.pause_members(False, agents=off)
        return self._until_now(result)

    def _until_now(self, result: ScenarioResult) -> ScenarioResult:
        """``result`` with the queue_log lines written since (UNPAUSE after a scenario)."""
        return replace(result, queue_log=self.queue_log_since(result.mark))

    @contextlib.contextmanager
    def callback_phones(self, agent: str = "agent1", agent_ring_s: float = 1.0,
                        resident_ring_s: float = 1.0, talk_s: float = 2.0, keys: str = "",
                        greeting: bool = False, agent_talk_s: float = 3600,
                        survey_keys: str = "",
                        ) -> Iterator[tuple[SippProcess, SippProcess]]:
        """Phones for an agent-first callback: start them, Originate (the test does, over
        AMI), and on leaving the block wait for Asterisk to be idle and stop them. ``keys``,
        ``greeting`` and ``survey_keys``: what the resident's phone does once answered
        (start_callback_phone); the agent hangs up after ``agent_talk_s``."""
        if self.active_channels() != 0:
            raise HarnessError("Asterisk has calls up from an earlier scenario")
        phones = self.start_phones(agent_ring_s, agent_talk_s, [agent])
        phones.append(self.start_callback_phone(resident_ring_s, talk_s, keys=keys,
                                                greeting=greeting, survey_keys=survey_keys))
        try:
            time.sleep(0.3)
            yield phones[0], phones[1]
            self.wait_idle()
        finally:
            self.stop_sipps(phones)
