"""Driving docker/compose.yml with Podman for tests/docker/test_stack.py.

``Stack`` builds the images (after the local base images, docker/base-images.sh), brings the
services up under a compose project of its own (``cctest-<pid>``, with free host ports, secrets
in a temporary folder and images tagged ``cctest-<pid>``, so a developer's own stack and a test
run beside it are left alone), and tears it all down again, also when a step failed:
containers, podman-compose's pod, named volumes, network, and the run's image tags.
``reap_stale()`` removes what runs whose process died before their teardown left behind.

What makes the next run fast is kept: the base images, and the newest images built of each
service, tagged ``cctest-cache`` so that their layers stay as the build cache (``podman rmi``
of an image's last tag also deletes its untagged parent layers). The cache image a build
replaced is deleted.

A cold build takes minutes (the base images are debootstrapped, then three images are built
at once): ``Stack`` says what it is doing, each build step and, while a step runs, a line every
30 s, through the ``say`` it is given, so that a CI log shows a slow run is alive.

Podman here needs tests/docker/containers.conf (runc, ulimits within this machine's hard
limits, no pulls) and BUILDAH_FORMAT=docker, without which the HEALTHCHECKs are dropped from
the images. Nothing here needs systemd: healthchecks are run on demand (``healthy``).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "compose.yml"
CONTAINERS_CONF = Path(__file__).resolve().with_name("containers.conf")
# Where tests/docker/install-podman.sh puts podman-compose: change both together.
PODMAN_COMPOSE_VENV = Path(
    os.environ.get("CALLCENTRE_PODMAN_COMPOSE_VENV", "/var/cache/callcentre/podman-compose"))
PODMAN_COMPOSE = PODMAN_COMPOSE_VENV / "bin" / "podman-compose"
# Where podman looks for netavark and aardvark-dns (helper_binaries_dir in containers.conf(5));
# tests/docker/install-podman.sh looks in the same places.
PODMAN_HELPER_DIRS = ("/usr/local/libexec/podman", "/usr/local/lib/podman", "/usr/libexec/podman",
                      "/usr/lib/podman")
PROJECT_PREFIX = "cctest-"
CACHE_TAG = "cctest-cache"
# Grafana's image is not in any registry this machine reaches: the proof runs the rest.
SERVICES = ("postgres", "asterisk", "callcentre", "callcentre-2", "prometheus", "alertmanager")
REPLICAS = ("callcentre", "callcentre-2")  # callcentre on one PostgreSQL database

T = TypeVar("T")
Say = Callable[[str], None]


class StackUnavailable(RuntimeError):
    """This machine cannot build or run the stack (the test skips with this message)."""


class StackError(RuntimeError):
    """A step of building, starting or checking the stack failed."""


def missing_prerequisites() -> list[str]:
    """What this machine lacks for the stack test, in words; empty when it has everything."""
    missing = []
    if os.geteuid() != 0:
        missing.append("not root (rootful Podman and debootstrap need it)")
    for tool, package in (("podman", "podman"), ("runc", "runc"), ("debootstrap", "debootstrap"),
                          ("sipp", "sip-tester"), ("iptables", "iptables")):
        if shutil.which(tool) is None:
            missing.append(f"no {tool} (Debian package {package})")
    for helper in ("netavark", "aardvark-dns"):
        if not any((Path(d) / helper).exists() for d in PODMAN_HELPER_DIRS):
            missing.append(f"no {helper} (Debian package {helper}): the services could not "
                           "find each other by name")
    if not PODMAN_COMPOSE.exists():
        missing.append(f"no podman-compose at {PODMAN_COMPOSE}")
    if missing:
        missing.append("tests/docker/install-podman.sh installs them as root")
    return missing


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    env["BUILDAH_FORMAT"] = "docker"
    return env


def run(args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 120,
        check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise StackError with the tail of its output."""
    try:
        done = subprocess.run(list(args), env=dict(env or podman_env()), cwd=cwd, timeout=timeout,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except subprocess.TimeoutExpired as err:
        raise StackError(f"{' '.join(args)}: no end after {timeout:.0f} s") from err
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise StackError(f"{' '.join(args)} exited {done.returncode}:\n{tail}")
    return done


def say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_together(jobs: Mapping[str, Sequence[str]], *, say: Say, show: Callable[[str], bool],
                 env: Mapping[str, str], timeout: float, cwd: Path | None = None,
                 quiet_s: float = 30) -> None:
    """Run the commands of ``jobs`` (name -> command) at once, saying as it goes: each one's
    start and end with its place (``n/m``), the lines of its output that ``show`` picks, and
    which are still running when ``quiet_s`` went by with nothing said. Raises StackError with
    the tail of the output of each command that failed; after ``timeout`` it stops them all."""
    count = len(jobs)
    label = {name: f"{name} ({i}/{count})" if count > 1 else name
             for i, name in enumerate(jobs, 1)}
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    tails: dict[str, deque[str]] = {name: deque(maxlen=30) for name in jobs}
    procs: dict[str, subprocess.Popen[str]] = {}
    failed: dict[str, int] = {}
    started = time.monotonic()
    try:
        for name, args in jobs.items():
            say(f"{label[name]}…")
            proc = subprocess.Popen(list(args), env=dict(env), cwd=cwd, text=True,
                                    errors="replace", stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            procs[name] = proc
            threading.Thread(target=_pump, args=(name, proc.stdout, lines), daemon=True).start()
        running = list(jobs)
        said = time.monotonic()
        while running:
            now = time.monotonic()
            if now > started + timeout:
                raise StackError(f"{', '.join(label[n] for n in running)}: no end after "
                                 f"{timeout:.0f} s\n" + "\n".join(tails[running[0]]))
            try:
                name, line = lines.get(timeout=max(0.1, min(started + timeout, said + quiet_s)
                                                   - now))
            except queue.Empty:
                if time.monotonic() >= said + quiet_s:
                    say(f"still {', '.join(label[n] for n in running)}…")
                    said = time.monotonic()
                continue
            if line is not None:
                tails[name].append(line)
                if show(line):
                    say(f"{label[name]}: {_shorten(line)}")
                    said = time.monotonic()
                continue
            code = procs[name].wait()
            running.remove(name)
            took = time.monotonic() - started
            if code:
                failed[name] = code
                say(f"{label[name]}: failed (exit {code}) after {took:.0f} s")
            else:
                say(f"{label[name]}: done in {took:.0f} s")
            said = time.monotonic()
    finally:
        for proc in procs.values():
            _end(proc)
    if failed:
        raise StackError("\n".join(f"{' '.join(jobs[name])} exited {code}:\n"
                                   + "\n".join(tails[name]) for name, code in failed.items()))


def _pump(name: str, stream: Any, lines: queue.Queue[tuple[str, str | None]]) -> None:
    """Pass the lines of one command's output to run_together(), then None at its end."""
    with stream:
        for line in stream:
            lines.put((name, _strip_ansi(line.rstrip())))
    lines.put((name, None))


def _end(proc: subprocess.Popen[str]) -> None:
    """Stop a command that run_together() gave up on, and whatever it started."""
    if proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _shorten(line: str, width: int = 110) -> str:
    line = " ".join(line.split())
    return line if len(line) <= width else line[:width - 1] + "…"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float,
             every: float = 1.0, explain: Callable[[], str] = lambda: "") -> T:
    """Call ``probe`` until it returns something other than None (or falsy); raise on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StackError(f"{what}: not within {timeout:.0f} s. {explain()}")
        time.sleep(every)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_range(length: int, start: int = 11000, stop: int = 12000) -> tuple[int, int]:
    """A run of ``length`` UDP ports that are all free right now. The default span is below
    the port blocks of tests/asterisk/harness.py (12000-31999) and the kernel's ephemeral
    ports (32768-), so a harness session running at the same time cannot collide with it."""
    for first in range(start, stop - length, length):
        socks = []
        try:
            for port in range(first, first + length):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("0.0.0.0", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return first, first + length - 1
    raise StackUnavailable(f"no {length} free UDP ports in {start}-{stop}")


def http_json(url: str, token: str | None = None, timeout: float = 5) -> tuple[int, Any]:
    """GET ``url``: (status, decoded JSON body or None). Status 0: nothing answered."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as err:
        with contextlib.suppress(ValueError):
            return err.code, json.load(err)
        return err.code, None
    except (OSError, ValueError):
        return 0, None


@dataclass(frozen=True)
class Ports:
    sip: int
    rtp: tuple[int, int]
    callcentre: int
    callcentre_2: int
    prometheus: int
    alertmanager: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(sip=free_port(socket.SOCK_DGRAM), rtp=free_udp_range(10),
                   callcentre=free_port(), callcentre_2=free_port(), prometheus=free_port(),
                   alertmanager=free_port())


class Stack:
    """One compose project of docker/compose.yml, run by podman-compose."""

    def __init__(self, workdir: Path, say: Say = say_on_stderr) -> None:
        self.workdir = workdir
        self.say = say
        self.started = time.monotonic()
        self.project = f"{PROJECT_PREFIX}{os.getpid()}"
        self.ports = Ports.pick()
        self.secrets = workdir / "secrets"
        self.site = workdir / "site"
        self.timings: dict[str, float] = {}
        self.site.mkdir(parents=True, exist_ok=True)
        self.env = podman_env() | {
            "CALLCENTRE_SECRETS": str(self.secrets),
            "ASTERISK_SITE": str(self.site),
            "SIP_PORT": str(self.ports.sip),
            "ASTERISK_RTP_PORTS": "{}-{}".format(*self.ports.rtp),
            "CALLCENTRE_HTTP_PORT": str(self.ports.callcentre),
            "CALLCENTRE_2_HTTP_PORT": str(self.ports.callcentre_2),
            "PROMETHEUS_PORT": str(self.ports.prometheus),
            "ALERTMANAGER_PORT": str(self.ports.alertmanager),
            "CALLCENTRE_IMAGE_TAG": self.project,
        }

    # --- life cycle ---------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """Say ``text`` with the seconds since this stack's start: ``[stack] text (12 s)``."""
        self.say(f"[stack] {text} ({time.monotonic() - self.started:.0f} s)")

    def _timed(self, step: str, fn: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            return fn()
        finally:
            self.timings[step] = round(time.monotonic() - started, 1)

    def compose(self, *args: str, timeout: float = 120,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([str(PODMAN_COMPOSE), "-p", self.project, "-f", str(COMPOSE_FILE), *args],
                   env=self.env, timeout=timeout, cwd=DOCKER, check=check)

    def build(self) -> None:
        """Base images (made once, then kept), then the images compose.yml builds, at once.
        Says base-images.sh's steps and each image's build steps (``STEP n/m: ...``)."""
        self._timed("base images", lambda: run_together(
            {"making base images": ["bash", str(DOCKER / "base-images.sh")]},
            say=self.note, show=lambda line: line.startswith("[base-images]"), env=self.env,
            timeout=1200))
        # The builds' RUN steps (apt-get, pip) use the host's network: on netavark's default
        # network they have no way out on a machine where CNI's bridge from before the switch
        # to netavark still holds that network's subnet (10.88.0.0/16), and need none of it.
        compose = [str(PODMAN_COMPOSE), "--podman-build-args=--network=host", "-p", self.project,
                   "-f", str(COMPOSE_FILE), "build"]
        try:
            self._timed("build", lambda: run_together(
                {f"building image {service}": [*compose, service] for service in built_images()},
                say=self.note, show=lambda line: line.startswith("STEP "), env=self.env,
                timeout=1200, cwd=DOCKER))
        finally:
            keep_as_cache(self.project, self.env)

    def create_network(self) -> str:
        """The project's network, made before podman-compose would (it uses an existing one)
        so that the host's address on it is known to the site's settings: Asterisk's PJSIP
        resolves contacts through DNS only, where host.containers.internal does not exist.
        Returns that address (the network's gateway).

        The network must have DNS (aardvark-dns), or callcentre never finds ``asterisk``: that
        is checked here rather than found out later as a silent AMI login timeout."""
        run(["podman", "network", "create",
             "--label", f"io.podman.compose.project={self.project}",
             "--label", f"com.docker.compose.project={self.project}",
             f"{self.project}_default"], env=self.env)
        network = self._network()
        if not network.get("dns_enabled"):
            backend = run(["podman", "info", "--format", "{{.Host.NetworkBackend}}"],
                          env=self.env, check=False).stdout.strip()
            raise StackError(
                f"{self.project}_default has no DNS (podman's network backend: {backend}), so "
                "callcentre could not resolve asterisk: tests/docker/containers.conf selects "
                "netavark, which needs aardvark-dns (tests/docker/install-podman.sh)")
        return str(network["subnets"][0]["gateway"])

    def write_site(self, files: Mapping[str, str]) -> None:
        """The site's own Asterisk settings (docker/site/README.md), mounted at start."""
        for name, text in files.items():
            (self.site / name).write_text(text)

    def up(self) -> None:
        run(["sh", str(DOCKER / "init-secrets.sh")], env=self.env, timeout=30)
        self.note(f"starting {', '.join(SERVICES)} (compose up)…")
        self._timed("up", lambda: self.compose("up", "-d", *SERVICES, timeout=300))

    def down(self) -> None:
        """Remove everything of this project, whatever state a failure left it in; safe to
        call more than once. ``compose down`` first, then a sweep by name and label for
        whatever it left (it stops at its first error, and never made some of it)."""
        def everything() -> None:
            with contextlib.suppress(StackError):
                self.compose("down", "-v", "-t", "20", timeout=180, check=False)
            remove_project(self.project, self.env)
        self.note(f"removing {self.project}: containers, pod, volumes, network, image tags…")
        self._timed("down", everything)
        self.note(f"removed; seconds per step: {self.timings}")

    # --- looking inside -------------------------------------------------------------------------

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def exec(self, service: str, *args: str, timeout: float = 60) -> str:
        return run(["podman", "exec", self.container(service), *args],
                   env=self.env, timeout=timeout).stdout

    def healthy(self, service: str) -> bool:
        """Run the image's HEALTHCHECK now (no systemd here to run it on a timer)."""
        done = run(["podman", "healthcheck", "run", self.container(service)],
                   env=self.env, timeout=60, check=False)
        return done.returncode == 0

    def stop(self, service: str, grace_s: int = 30) -> tuple[int, float]:
        """``podman stop``: the image's STOPSIGNAL, SIGKILL after ``grace_s``.
        Returns the container's exit code (137 when it had to be killed) and the seconds taken."""
        started = time.monotonic()
        run(["podman", "stop", "-t", str(grace_s), self.container(service)],
            env=self.env, timeout=grace_s + 30)
        took = time.monotonic() - started
        out = run(["podman", "inspect", "--format", "{{.State.ExitCode}}",
                   self.container(service)], env=self.env).stdout
        return int(out.strip()), took

    def _network(self) -> dict[str, Any]:
        """``podman network inspect`` of the project's network."""
        out = run(["podman", "network", "inspect", f"{self.project}_default"], env=self.env).stdout
        return dict(json.loads(out)[0])

    def logs(self, lines: int = 40) -> str:
        parts = []
        for service in SERVICES:
            done = run(["podman", "logs", "--tail", str(lines), self.container(service)],
                       env=self.env, timeout=30, check=False)
            text = _strip_ansi(done.stdout + done.stderr)
            parts.append(f"--- {service} (last {lines} lines)\n{text.strip()}")
        return "\n".join(parts)

    def url(self, service: str, path: str) -> str:
        port = {"callcentre": self.ports.callcentre, "callcentre-2": self.ports.callcentre_2,
                "prometheus": self.ports.prometheus, "alertmanager": self.ports.alertmanager}[service]
        return f"http://127.0.0.1:{port}{path}"


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def built_images() -> dict[str, str]:
    """Service -> image name (without tag), for each image compose.yml builds (a service with
    ``build:``; callcentre-2 runs callcentre's); each is tagged ``${CALLCENTRE_IMAGE_TAG:-latest}``
    (tests/docker/test_files.py holds compose.yml to that)."""
    return dict(re.findall(r"^  ([\w-]+):\n    image: ([^:\s]+):\$\{CALLCENTRE_IMAGE_TAG:-latest\}"
                           r"\n    build:$", COMPOSE_FILE.read_text(), re.MULTILINE))


def pod_name(project: str) -> str:
    """The pod podman-compose puts a project's containers in (its default, --in-pod)."""
    return f"pod_{project}"


def image_id(ref: str, env: Mapping[str, str]) -> str | None:
    done = run(["podman", "image", "inspect", "--format", "{{.Id}}", ref], env=env, check=False)
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def keep_as_cache(tag: str, env: Mapping[str, str]) -> None:
    """Tag the images built as ``tag`` also as CACHE_TAG, so that their layers outlive the run
    as the next build's cache, and delete the cache image each one replaces (with its layers
    that the new one does not share). An image still tagged or used elsewhere is left."""
    for image in built_images().values():
        new = image_id(f"{image}:{tag}", env)
        old = image_id(f"{image}:{CACHE_TAG}", env)
        if new is None or new == old:
            continue
        run(["podman", "tag", new, f"{image}:{CACHE_TAG}"], env=env, check=False)
        if old is not None:
            tags = run(["podman", "image", "inspect", "--format", "{{len .RepoTags}}", old],
                       env=env, check=False).stdout.strip()
            if tags == "0":
                run(["podman", "rmi", old], env=env, timeout=120, check=False)


def remove_project(project: str, env: Mapping[str, str] | None = None) -> None:
    """Containers, pod, volumes and network of one compose project (by podman-compose's labels
    and names), then the project's image tags: the images themselves go with their last tag."""
    env = env or podman_env()
    label = f"label=io.podman.compose.project={project}"
    ids = run(["podman", "ps", "-a", "-q", "--filter", label], env=env).stdout.split()
    if ids:
        run(["podman", "rm", "-f", "-v", "-t", "20", *ids], env=env, timeout=120, check=False)
    run(["podman", "pod", "rm", "-f", "-t", "20", pod_name(project)], env=env, timeout=120,
        check=False)
    vols = run(["podman", "volume", "ls", "-q", "--filter", label], env=env).stdout.split()
    if vols:
        run(["podman", "volume", "rm", "-f", *vols], env=env, check=False)
    run(["podman", "network", "rm", "-f", f"{project}_default"], env=env, check=False)
    tagged = [f"{image}:{project}" for image in built_images().values()
              if image_id(f"{image}:{project}", env)]
    if tagged:
        run(["podman", "rmi", *tagged], env=env, timeout=120, check=False)


def reap_stale() -> list[str]:
    """Remove what earlier test runs left when their pytest process died before its teardown
    (killed, or the machine went down): containers, pods, volumes, networks and image tags of
    each ``cctest-<pid>`` whose process no longer exists. Runs still going are left alone."""
    label = '{{index .Labels "io.podman.compose.project"}}'
    names = run(["podman", "ps", "-a", "--format", label]).stdout.split()
    names += [n.removeprefix("pod_") for n in
              run(["podman", "pod", "ls", "--format", "{{.Name}}"]).stdout.split()]
    names += run(["podman", "volume", "ls", "--format", label]).stdout.split()
    names += [n.removesuffix("_default") for n in
              run(["podman", "network", "ls", "--format", "{{.Name}}"]).stdout.split()]
    names += [ref.rpartition(":")[2] for ref in
              run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()]
    reaped = []
    for project in sorted(set(names)):
        match = re.fullmatch(re.escape(PROJECT_PREFIX) + r"(\d+)", project)
        if match and not _is_test_run(int(match.group(1))):
            remove_project(project)
            reaped.append(project)
    return reaped


def _is_test_run(pid: int) -> bool:
    """Whether ``pid`` is a live pytest (a test run's project is named after its pid)."""
    try:
        return b"pytest" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
