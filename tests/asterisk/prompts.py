"""The council's recorded prompts, made for the tests by espeak-ng (tests/system-deps.sh
installs it) in English and Irish, written into the chroot's sounds directory at test time.

Asterisk looks a prompt up as ``sounds/<CHANNEL(language)>/<name>`` (then English), so the
language menu (dialplans/extensions_callcentre.conf, ``callcentre-language``) says each
option in its own language and every prompt after the choice is in the chosen one. The
files are 8 kHz 16-bit signed linear (``.sln``), a format Asterisk plays without a codec;
no audio is committed.
"""

from __future__ import annotations

import array
import io
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

SOUNDS = "usr/share/asterisk/sounds"  # inside the chroot (astdatadir /usr/share/asterisk)
RATE = 8000
# name -> language -> (espeak-ng voice, words): README.md "Languages" says how a council
# records its own.
PROMPTS = {
    "callcentre/language-choice": {"en": ("en", "For English, press"),
                                   "ga": ("ga", "Do Ghaeilge, brúigh")},
    "callcentre/case-reference": {
        # of clearly different lengths (about 2.2 s and 3.3 s): a test can tell from
        # Asterisk's log which of them Read() played
        "en": ("en", "Key your case reference, then hash."),
        "ga": ("ga", "Cuir isteach uimhir do cháis, agus ansin an eochair haise."),
    },
}


class PromptsUnavailable(RuntimeError):
    """espeak-ng is missing or failed: the tests that need prompts skip with this."""


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(voice: str, words: str) -> bytes:
    """espeak-ng's speech (22,050 Hz WAV) as 8 kHz signed linear, little-endian."""
    try:
        done = subprocess.run(["espeak-ng", "-v", voice, "--stdout", words],
                              capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        raise PromptsUnavailable(f"espeak-ng -v {voice} failed: {err}") from err
    with wave.open(io.BytesIO(done.stdout)) as wav:
        rate, width = wav.getframerate(), wav.getsampwidth()
        frames = wav.readframes(wav.getnframes())
    if width != 2 or wav.getnchannels() != 1:
        raise PromptsUnavailable(f"espeak-ng gave {width * 8}-bit, {wav.getnchannels()} channels")
    return resample(frames, rate, RATE)


def resample(frames: bytes, rate: int, to: int) -> bytes:
    """16-bit mono ``frames`` from ``rate`` to ``to`` Hz (linear interpolation: enough for
    speech played to a test's phone)."""
    source = array.array("h", frames)
    if sys.byteorder == "big":
        source.byteswap()
    out = array.array("h")
    step = rate / to
    for i in range(int(len(source) / step) - 1):
        pos = i * step
        lo = int(pos)
        frac = pos - lo
        out.append(round(source[lo] * (1 - frac) + source[lo + 1] * frac))
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def inside(root: Path, path: str) -> Path:
    """``path`` as the chroot sees it: absolute symlinks (Debian's sounds/en points through
    /etc/alternatives) are followed within ``root``, never on this machine."""
    here = root
    for part in Path(path).parts:
        here = here / part
        hops = 0
        while here.is_symlink() and hops < 20:
            target = os.readlink(here)
            here = root / target.lstrip("/") if target.startswith("/") else here.parent / target
            hops += 1
    return here


def seconds(root: Path, language: str, name: str) -> float:
    """How long an installed prompt plays."""
    return inside(root, f"{SOUNDS}/{language}/{name}.sln").stat().st_size / (2 * RATE)


def install(root: Path) -> list[Path]:
    """Write every prompt of PROMPTS into the chroot at ``root``; return the files."""
    if not espeak_available():
        raise PromptsUnavailable("espeak-ng is not installed (tests/system-deps.sh)")
    written = []
    for name, languages in PROMPTS.items():
        for language, (voice, words) in languages.items():
            target = inside(root, f"{SOUNDS}/{language}/{name}.sln")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(speak(voice, words))
            target.chmod(0o644)
            written.append(target)
    return written
