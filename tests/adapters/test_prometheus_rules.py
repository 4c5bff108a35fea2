"""metrics/rules.yml: the render of the default settings, valid, unit-tested with promtool, and
only naming catalogue metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from callcentre.__main__ import main
from callcentre.config import Config
from callcentre.domain.metrics import CATALOGUE
from callcentre.errors import ConfigError
from callcentre.observability.alert_rules import render

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


# --- rules.yml is made from the settings (callcentre/observability/alert_rules.py) -------------


def test_rules_yml_is_the_render_of_the_default_settings() -> None:
    """A hand edit, or a change of the defaults without rendering again, fails here:
    `.venv/bin/callcentre rules -o metrics/rules.yml` (with no settings) makes it agree."""
    assert (METRICS / "rules.yml").read_text() == render(Config())


def _alerts(text: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for group in yaml.safe_load(text)["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                found.setdefault(rule["alert"], []).append(rule)
    return found


def test_targets_and_thresholds_come_from_the_settings(tmp_path: Path) -> None:
    cfg = Config(service_level_thresholds=(30.0,), service_level_targets=(0.85,),
                 short_abandon_seconds=10.0, abandon_rate_target=0.1,
                 callback_at_risk_minutes=45.0, callback_kept_target=0.8,
                 queue_events_silence_minutes=7.5)
    text = render(cfg)
    alerts = _alerts(text)
    [level] = alerts["CallcentreServiceLevelBelowTarget"]
    assert level["expr"].startswith("queue:callcentre_service_level_30s:ratio1h < 0.85 and")
    assert level["labels"] == {"severity": "warning", "threshold": "30s"}
    assert "within 30 s in the last hour (target 85 %)" in level["annotations"]["summary"]
    assert "> 0.1 and" in alerts["CallcentreAbandonRateAboveTarget"][0]["expr"]
    assert "due within 45 minutes" in alerts["CallcentreCallbacksAtRisk"][0]["annotations"]["summary"]
    assert "ratio1d < 0.8\n" in alerts["CallcentreCallbacksKeptBelowTarget"][0]["expr"]
    [silent] = alerts["CallcentreNoQueueEvents"]
    assert "[450s]" in silent["expr"] and "in 450 seconds" in silent["annotations"]["summary"]
    assert 'callcentre_answer_wait_seconds_bucket{le="30.0"}' in text
    assert 'callcentre_abandon_wait_seconds_bucket{le="10.0"}' in text
    assert 'le="20.0"' not in text and 'le="5.0"' not in text
    if PROMTOOL is not None:
        (tmp_path / "rules.yml").write_text(text)
        out = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "rules.yml")],
                             capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stdout + out.stderr


def test_pending_replaces_every_alerts_for_and_only_that() -> None:
    plain, drill = _alerts(render(Config())), _alerts(render(Config(), pending="1s"))
    assert plain.keys() == drill.keys()
    for name, rules in drill.items():
        for before, after in zip(plain[name], rules, strict=True):
            assert after.pop("for", "1s") == "1s"
            before.pop("for", None)
            assert before == after


def test_every_alert_has_a_severity_and_no_personal_data() -> None:
    """An alert reaches a person by email or webhook: it says how many and which queue or
    task, never whose number (alertmanager.yml groups and routes on these labels too)."""
    for name, rules in _alerts(render(Config())).items():
        for rule in rules:
            assert rule["labels"]["severity"] in ("warning", "critical"), name
            assert set(rule["labels"]) <= {"severity", "threshold"}, name
            # pbx: a site's name from the settings, never a number
            assert set(re.findall(r"by \((\w+)\)", rule["expr"])) <= {"queue", "task", "pbx"}, name
            used = set(re.findall(r"\{\{ *([^}|]+?) *(?:\|[^}]*)?\}\}", str(rule["annotations"])))
            assert used <= {"$value", "$labels.queue", "$labels.task", "$labels.pbx"}, (name, used)


def test_pending_must_be_a_duration() -> None:
    with pytest.raises(ConfigError, match="Prometheus duration"):
        render(Config(), pending="soon")


def test_the_cli_writes_the_render(tmp_path: Path) -> None:
    out = tmp_path / "rules.yml"
    assert main(["--set", "service_level_targets=0.7,0.9", "rules", "-o", str(out)]) == 0
    assert out.read_text() == render(Config(service_level_targets=(0.7, 0.9)))
