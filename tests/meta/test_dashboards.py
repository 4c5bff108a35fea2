"""metrics/dashboards/*.json: valid JSON, and every query names metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

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
