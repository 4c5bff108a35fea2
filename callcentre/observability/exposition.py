"""Prometheus text exposition (format 0.0.4) of a registry, written for speed.

prometheus-client's own ``generate_latest`` validates and escapes every label of every
sample; for a large council (50 queues of histograms, ~2,000 lines) that took 13 ms a
scrape here (bench/metrics.py), most of it per-sample work. ``*_created`` samples are left
out (the service turns them off anyway: see app.py). This writes the same
families and samples (tests/unit/test_exposition.py parses both and compares), caching
each label set's text, in about half the time, so /metrics stays on the event loop.
"""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped", "info", "stateset"}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Exposition:
    """Renders a registry; keeps the text of label sets it has seen (bounded by the series)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._labels: dict[tuple[tuple[str, str], ...], str] = {}

    def _label_text(self, labels: dict[str, str]) -> str:
        key = tuple(labels.items())
        text = self._labels.get(key)
        if text is None:
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(key))
            text = "{" + inner + "}" if inner else ""
            self._labels[key] = text
        return text

    def render(self) -> bytes:
        out: list[str] = []
        for family in self._registry.collect():
            kind = family.type if family.type in _TYPES else "untyped"
            name = family.name + "_total" if kind == "counter" else family.name
            doc = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
            out.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n")
            label_text = self._label_text
            out.extend(f"{s.name}{label_text(s.labels)} {_number(s.value)}\n"
                       for s in family.samples if not s.name.endswith("_created"))
        return "".join(out).encode()
