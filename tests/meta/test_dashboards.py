"""metrics/dashboards/*.json: valid JSON, every query names metrics that exist, and the
dashboard is the render of the settings' standards (observability/dashboard.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from callcentre.__main__ import main
from callcentre.config import Config
from callcentre.observability.alert_rules import render as render_rules
from callcentre.observability.dashboard import render
from tests.adapters.test_prometheus_rules import exported_series

METRICS = Path(__file__).resolve().parents[2] / "metrics"
DASHBOARDS = sorted((METRICS / "dashboards").glob("*.json"))


def recorded() -> set[str]:
    return set(re.findall(r"record: (\S+)", (METRICS / "rules.yml").read_text()))


def test_there_is_a_dashboard() -> None:
    assert DASHBOARDS


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_uses_known_metrics(path: Path) -> None:
    dash = json.loads(path.read_text())
    known = exported_series() | recorded()
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert exprs
    for expr in exprs:
        names = set(re.findall(r"\b((?:queue:)?callcentre_[a-z0-9_]+(?::[a-z0-9_]+)?)\b", expr))
        assert names, expr
        assert names <= known, f"{path.name}: {expr} uses {names - known}"
    assert all(p["datasource"]["uid"] == "prometheus" for p in dash["panels"])


def test_the_dashboard_is_the_render_of_the_default_settings() -> None:
    """A hand edit, or a change of the defaults without rendering again, fails here:
    `callcentre dashboard -o metrics/dashboards/callcentre.json` makes it again."""
    assert (METRICS / "dashboards" / "callcentre.json").read_text() == render(Config())


def test_the_panels_follow_the_councils_standards() -> None:
    cfg = Config(service_level_thresholds=(30.0,), service_level_targets=(0.9,),
                 abandon_rate_target=0.08, callback_kept_target=0.85)
    panels = {p["title"]: p for p in json.loads(render(cfg))["panels"]}
    level = panels["Service level: answered within 30 s (1 h, target 90 %)"]
    assert level["targets"][0]["expr"] == "queue:callcentre_service_level_30s:ratio1h"
    assert _steps(level) == [("red", None), ("orange", 0.8), ("green", 0.9)]
    assert not any("20 s" in title or "60 s" in title for title in panels)
    abandon = panels["Abandonment rate (1 h); line: the target, 8 %"]
    assert _steps(abandon) == [("transparent", None), ("red", 0.08)]
    assert abandon["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
    kept = panels["Call-backs kept (1 d, target 85 %)"]
    assert _steps(kept)[-1] == ("green", 0.85)
    # every recorded series the dashboard reads is one the same settings' rules record
    recorded_here = set(re.findall(r"record: (\S+)", render_rules(cfg)))
    for panel in panels.values():
        for target in panel["targets"]:
            for name in re.findall(r"\b(\S+:\S+:\w+)\b", target["expr"]):
                assert name in recorded_here, name
    assert len({p["id"] for p in panels.values()}) == len(panels)
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels.values())


def test_the_cli_writes_the_render(tmp_path: Path) -> None:
    out = tmp_path / "dashboard.json"
    assert main(["--set", "service_level_targets=0.7,0.9", "dashboard", "-o", str(out)]) == 0
    assert out.read_text() == render(Config(service_level_targets=(0.7, 0.9)))


def _steps(panel: dict[str, Any]) -> list[tuple[str, float | None]]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(s["color"], s["value"]) for s in steps]
