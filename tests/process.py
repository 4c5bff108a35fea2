"""``callcentre serve`` in a child process, for tests that need a real process (signals,
file-descriptor limits, what it writes to its log)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.clock import python_command
from tests.support import policy_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A running ``callcentre serve``: no PBX unless ``ami_port`` is given (it retries)."""

    def __init__(self, tmp: Path, max_files: int | None = None, **settings: object) -> None:
        self.port = free_port()
        self.log = tmp / "serve.log"
        env = {**os.environ, "CALLCENTRE_DB": str(tmp / "cc.sqlite3"),
               "CALLCENTRE_HTTP_PORT": str(self.port),
               "CALLCENTRE_AMI_PORT": str(free_port()), "CALLCENTRE_AMI_RECONNECT_MAX": "0.5",
               "CALLCENTRE_POLICY_FILE": policy_file(tmp)}
        env.update({f"CALLCENTRE_{k.upper()}": str(v) for k, v in settings.items()})
        command = python_command("serve")
        if max_files is not None:  # util-linux prlimit: the child's soft and hard limits
            command = ["prlimit", f"--nofile={max_files}:{max_files}", *command]
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(command, env=env, stdout=out,
                                            stderr=subprocess.STDOUT)
        self.wait_until_up()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until_up(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited:\n{self.text()}"
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"serve did not answer within {timeout} s:\n{self.text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
