"""axe-core, the accessibility rules engine, fetched from the npm registry when a test needs it.

Fetched with npm's own client (its configured registry; ``npm pack`` checks the registry's
integrity) at a pinned version, checked again against the integrity pinned here, and kept
in a cache outside the repository: ``/var/cache/callcentre-axe`` when writable (root, CI),
else ``~/.cache/callcentre-axe``. No minified copy lives in the repository.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

VERSION = "4.14.1"
# npm's dist.integrity for axe-core@4.14.1 (`npm view axe-core@4.14.1 dist.integrity`)
INTEGRITY = ("sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFoo"
             "JpZe37OgudVGtQ==")


class AxeUnavailable(RuntimeError):
    pass


def cache_dir() -> Path:
    system = Path("/var/cache/callcentre-axe")
    if os.access(system if system.exists() else system.parent, os.W_OK):
        return system
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "callcentre-axe"


def axe_source() -> str:
    """axe.min.js of the pinned version: from the cache, else fetched into it."""
    target = cache_dir() / VERSION / "axe.min.js"
    if not target.is_file():
        _fetch(target)
    return target.read_text(encoding="utf-8")


def _fetch(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise AxeUnavailable("npm not installed (Debian package 'npm'; tests/system-deps.sh "
                             "installs it when run as root)")
    target.parent.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([npm, "pack", f"axe-core@{VERSION}", "--pack-destination",
                          str(target.parent)], capture_output=True, text=True, timeout=180,
                         check=False)
    tarball = target.parent / f"axe-core-{VERSION}.tgz"
    if out.returncode != 0 or not tarball.is_file():
        raise AxeUnavailable(f"npm pack axe-core@{VERSION} failed: {out.stderr[-500:]}")
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if f"sha512-{digest}" != INTEGRITY:
        tarball.unlink()
        raise AxeUnavailable(f"axe-core-{VERSION}.tgz does not match its pinned integrity")
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("package/axe.min.js")
        if member is None:
            raise AxeUnavailable("the axe-core package holds no axe.min.js")
        partial = target.with_suffix(".partial")
        partial.write_bytes(member.read())
    partial.replace(target)  # whole or not at all, for the next run
    tarball.unlink()
