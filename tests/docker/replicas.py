"""The stack's two callcentre replicas on one PostgreSQL database (docker/compose.yml): which
one leads the PBX, as each one's /healthz says, a leader's sudden death, and its return.

The leader is killed with ``podman kill`` (SIGKILL: no drain, its connections die with it),
as a crash or the OOM killer would end it; the standby waits on the leader's advisory lock,
so it should lead within a second or two. Podman counts a ``podman kill`` as the user's stop
and does not apply the restart policy to it (a process that dies by itself is restarted);
``bring_back`` then starts the container again, as an operator or systemd would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tests.docker.stack import REPLICAS, Stack, http_json, run, wait_for


def leadership(stack: Stack, service: str) -> dict[str, Any]:
    """The ``leadership`` of one replica's /healthz (empty when it does not answer)."""
    status, body = http_json(stack.url(service, "/healthz"), timeout=2)
    lead = body.get("leadership") if status in (200, 503) and body else None
    return dict(lead) if lead else {}


def leader_and_standby(stack: Stack) -> tuple[str, str] | None:
    """(leader, standby) once one replica leads and the other stands by, else None."""
    roles = {service: leadership(stack, service).get("role") for service in REPLICAS}
    leaders = [s for s, role in roles.items() if role == "leader"]
    standbys = [s for s, role in roles.items() if role == "standby"]
    return (leaders[0], standbys[0]) if len(leaders) == len(standbys) == 1 else None


def kill(stack: Stack, service: str) -> None:
    """SIGKILL the service's container: no drain, no goodbye to PostgreSQL or Asterisk."""
    run(["podman", "kill", "--signal", "KILL", stack.container(service)], env=stack.env)


@dataclass(frozen=True)
class Takeover:
    leader: str  # the replica that leads now
    seconds: float  # from just before the kill to its /healthz saying "leader"
    term: int


def wait_for_takeover(stack: Stack, standby: str, killed_at: float,
                      timeout: float = 30) -> Takeover:
    """Poll the standby's /healthz every 50 ms until it says it leads (calls taken back)."""
    def leads() -> dict[str, Any] | None:
        lead = leadership(stack, standby)
        return lead if lead.get("role") == "leader" else None
    lead = wait_for(f"{standby} leading", leads, timeout, every=0.05, explain=stack.logs)
    return Takeover(standby, time.monotonic() - killed_at, int(lead["term"]))


def state(stack: Stack, service: str) -> str:
    """Podman's status of the service's container: running, exited, ..."""
    return run(["podman", "inspect", "--format", "{{.State.Status}}",
                stack.container(service)], env=stack.env).stdout.strip()


def bring_back(stack: Stack, service: str) -> str:
    """Make sure the killed replica runs again; say how it came back."""
    if state(stack, service) == "running":
        return "its restart policy"
    run(["podman", "start", stack.container(service)], env=stack.env, timeout=60)
    return "podman start (podman applies no restart policy after podman kill)"
