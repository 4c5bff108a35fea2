"""README.md's settings table and callcentre/config.py say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

from callcentre import config

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(\w+)` \| `(CALLCENTRE_\w+)` \| `([^`]*)` \| (.+) \|$")


def _documented() -> dict[str, tuple[str, str, str]]:
    rows = (ROW.match(line) for line in README.read_text(encoding="utf-8").splitlines())
    return {m[1]: (m[2], m[3], m[4]) for m in rows if m}


def _default(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def test_every_setting_is_in_the_readme_and_nothing_else_is() -> None:
    documented = _documented()
    declared = {f.name: f for f in config.settings()}
    assert set(documented) == set(declared)
    for name, field in declared.items():
        env, default, help_text = documented[name]
        assert env == config.env_name(name)
        assert default == _default(field.default), name
        assert help_text == field.metadata["help"], name


def test_every_setting_has_help() -> None:
    assert all(f.metadata.get("help") for f in config.settings())
