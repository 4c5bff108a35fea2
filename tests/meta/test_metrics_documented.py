"""metrics/README.md documents exactly the catalogue in callcentre/domain/metrics.py."""

from __future__ import annotations

import re
from pathlib import Path

from callcentre.domain.metrics import CATALOGUE

README = Path(__file__).resolve().parents[2] / "metrics" / "README.md"
ROW = re.compile(r"^\| `(callcentre_\w+)` \| (\w+) \| ([\w, -]+) \| (\w+) \| (.+) \|$")


def test_catalogue_and_readme_agree() -> None:
    rows = {m[1]: m for line in README.read_text().splitlines() if (m := ROW.match(line))}
    assert set(rows) == {spec.name for spec in CATALOGUE}
    for spec in CATALOGUE:
        row = rows[spec.name]
        assert row[2] == spec.kind.value
        assert row[3] == (", ".join(spec.labels) or "-")
        assert row[4] == spec.source.value
        assert row[5] == spec.help


def test_no_label_can_carry_personal_data() -> None:
    # "from"/"to" hold callback results (kept, late, missed) of a corrected callback;
    # "from_outcome"/"to_outcome" call outcomes queue_log corrected; task: the supervisor's
    # few fixed names; pbx: a site's name from the settings
    allowed = {"queue", "outcome", "event", "result", "kind", "source", "state", "mode",
               "from", "to", "from_outcome", "to_outcome", "task", "pbx"}
    for spec in CATALOGUE:
        assert set(spec.labels) <= allowed, spec.name
