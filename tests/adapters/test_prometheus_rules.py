"""metrics/rules.yml: valid, unit-tested with promtool, and only naming catalogue metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from callcentre.domain.metrics import CATALOGUE

METRICS = Path(__file__).resolve().parents[2] / "metrics"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus'; "
    "tests/system-deps.sh installs it when run as root)")


@needs_promtool
def test_rules_are_valid() -> None:
    out = subprocess.run([PROMTOOL, "check", "rules", str(METRICS / "rules.yml")],  # type: ignore[list-item]
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_rule_unit_tests_pass() -> None:
    out = subprocess.run([PROMTOOL, "test", "rules", "rules_test.yml"],  # type: ignore[list-item]
                         cwd=METRICS / "tests", capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def exported_series() -> set[str]:
    names = set()
    for spec in CATALOGUE:
        names.add(spec.name)
        if spec.kind.value == "histogram":
            names.update(f"{spec.name}_{s}" for s in ("bucket", "sum", "count"))
    return names


def test_rules_only_use_metrics_from_the_catalogue() -> None:
    text = (METRICS / "rules.yml").read_text()
    used = set(re.findall(r"\b(callcentre_[a-z_]+)\b", text))
    recorded = {m for m in used if f"record: queue:{m}:" in text or f"record: {m}:" in text}
    assert used - recorded - exported_series() == set()
