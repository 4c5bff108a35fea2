"""callcentre/observability/yaml_text.py writes YAML that reads back as what it was given."""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from callcentre.observability.yaml_text import Commented, Flow, dump, scalar

TRICKY = ["yes", "No", "on", "null", "~", "1:30", "15m", "20s", "0.8", "1e3", ".inf", "0x1f",
          "2026-12-01", "0b101", "0o17", "0777", "1_000", "1:30.5", "6.8e+5", ".5", "1.", "0?", "a?b", "x:y", "a b", "a: b", "a:b", "x #y", "#x", "-x", "- x", "?x", "{{ $value }}", "", " x",
          "x ", "'q'", '"q"', "a,b", "[x]", "@x", "`x`", "|x", ">x", "%x", "!x", "&x", "*x",
          "queue:callcentre_x:ratio1h < 0.8", "line\nline", "line\n", "\nline", "a\n\nb",
          " a\nb", "a \nb", "tab\there", "é ü 日本", "\u0085", "\u2028", "\x00", "\ufeffx"]


def _back(value: object) -> object:
    return yaml.safe_load(dump({"k": value}))["k"]  # type: ignore[arg-type]


def test_tricky_strings_read_back_as_themselves() -> None:
    for text in TRICKY:
        assert _back(text) == text, text
        assert yaml.safe_load("{k: " + scalar(text, in_flow=True) + "}")["k"] == text, text


@given(st.text())
def test_any_string_reads_back_as_itself(text: str) -> None:
    assert _back(text) == text


@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=3))
def test_a_flow_mapping_reads_back(mapping: dict[str, str]) -> None:
    assert _back(Flow(mapping)) == mapping


def test_durations_and_words_stay_plain() -> None:
    for text in ("15m", "20s", "1h", "council", "queue:callcentre_x:ratio1h", "severity=\"critical\""):
        assert scalar(text) == text, text
    for text in ("0b101", "1_000", "0x1f", "2026-12-01", "yes", "1:30.5"):
        assert scalar(text).startswith('"'), text


def test_numbers_booleans_lists_and_commented_mappings() -> None:
    value = {"n": 3, "f": 0.95, "b": True, "empty": [], "none": {},
             "items": [Commented("why\nbecause", {"name": "x", "more": [1, "two"]}), "s"]}
    text = dump(value, "header")
    assert text.startswith("# header\n")
    assert "  - name: x\n    # why\n    # because\n" in text
    assert yaml.safe_load(text) == {"n": 3, "f": 0.95, "b": True, "empty": [], "none": {},
                                     "items": [{"name": "x", "more": [1, "two"]}, "s"]}
