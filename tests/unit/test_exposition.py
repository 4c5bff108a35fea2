"""Our exposition writes exactly what prometheus-client's would (parsed and compared)."""

from __future__ import annotations

import math
import random

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from callcentre.domain.callback_figures import CallbackCounts
from callcentre.domain.calls import Outcome
from callcentre.observability.exposition import Exposition
from callcentre.observability.prometheus import CallMetrics, LiveCollector, LiveSnapshot
from tests.unit.test_metrics import call


def parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            value = "nan" if math.isnan(s.value) else s.value
            out[(s.name, tuple(sorted(s.labels.items())))] = value
    return out


def families(text: str) -> dict[str, tuple[str, str]]:
    return {f.name: (f.type, f.documentation) for f in text_string_to_metric_families(text)
            if not f.name.endswith("_created")}


def test_same_samples_types_and_help_as_prometheus_client() -> None:
    registry = CollectorRegistry()
    metrics = CallMetrics(registry, [20, 60])
    rng = random.Random(5)
    for i in range(300):
        outcome = rng.choice([Outcome.ANSWERED, Outcome.ABANDONED])
        metrics.touch_queue(f"queue-{i % 7}")
        metrics.call_finished(call(outcome, rng.uniform(0, 400), queue=f"queue-{i % 7}",
                                   repeat_of=1 if i % 5 == 0 else None))
    snap = LiveSnapshot(ami_connected=True, last_event_age=None, waiting={'q"uote\\': (2, 3.5)},
                        events={("TestEvent", "ignored"): 4},
                        callbacks=CallbackCounts(promised={"agent": 3}, at_risk=1))
    registry.register(LiveCollector(lambda: snap))
    ours = Exposition(registry).render().decode()
    theirs = generate_latest(registry).decode()
    assert parsed(ours) == parsed(theirs)
    assert families(ours) == families(theirs)
