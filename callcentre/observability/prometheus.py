"""Binds the metric catalogue to an injected prometheus-client registry.

Event metrics are instruments updated by subscribers (``call_finished``, ``queue_joined``:
see app.py's subscription table); scrape-time metrics come from ``LiveCollector``, which
reads the snapshot (services/monitoring.py) the web handler refreshes just before each
scrape (the database is async; collectors are not).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callcentre.domain.callback_figures import CallbackCounts
from callcentre.domain.callback_outcomes import CORRECTABLE
from callcentre.domain.calls import Call, Outcome
from callcentre.domain.events import QueueJoined
from callcentre.domain.live import LedgerReport, LiveSnapshot, RuntimeReport
from callcentre.domain.metrics import BY_NAME, CATALOGUE, Kind, MetricSpec, Source
from callcentre.domain.waits import WaitAnnounced

__all__ = ["CallMetrics", "LiveCollector", "LiveSnapshot"]

MAX_EVENT_NAMES = 150  # Asterisk's event vocabulary is bounded; this guards the label anyway


def buckets_with(thresholds: Iterable[float], base: Sequence[float]) -> list[float]:
    return sorted({*base, *(float(t) for t in thresholds)})


class CallMetrics:
    """The event-driven instruments, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry, sl_thresholds: Sequence[float],
                 short_abandon: float = 5.0) -> None:
        self._m: dict[str, Any] = {}
        self._queues: set[str] = set()
        edges = [*sl_thresholds, short_abandon]
        for spec in CATALOGUE:
            if spec.source is Source.EVENT:
                self._m[spec.name] = _instrument(spec, registry, edges)

    def touch_queue(self, queue: str) -> None:
        """Create a queue's series at zero before its first call finishes.

        Prometheus's increase() cannot see the first increment of a series it has never
        seen at zero; touching every series when a caller joins the queue avoids that.
        """
        if queue in self._queues:
            return
        self._queues.add(queue)
        for outcome in Outcome:
            self._m["callcentre_calls_total"].labels(queue, outcome.value)
        for name in ("callcentre_answer_wait_seconds", "callcentre_abandon_wait_seconds",
                     "callcentre_repeat_contacts_total", "callcentre_out_of_hours_calls_total",
                     "callcentre_wait_estimates_told_total",
                     "callcentre_wait_estimate_error_seconds"):
            self._m[name].labels(queue)
        for result in ("made", "taken"):
            self._m["callcentre_wait_callback_offers_total"].labels(queue, result)

    def call_settled(self, before: Call | None, after: Call) -> None:
        """queue_log settled a call: count one the call log never saw, or a changed outcome."""
        if before is None:
            self.call_finished(after)
        elif before.outcome != after.outcome:
            self._m["callcentre_call_outcome_corrections_total"].labels(
                after.queue or "none", before.outcome or "unknown",
                after.outcome or "unknown").inc()

    def touch_retention(self, kinds: Iterable[str]) -> None:
        """Create the purge's series at zero, so its first increase is seen."""
        for kind in kinds:
            self._m["callcentre_retention_anonymised_total"].labels(kind)

    def anonymised(self, kind: str, records: int) -> None:
        self._m["callcentre_retention_anonymised_total"].labels(kind).inc(records)

    def queue_joined(self, event: QueueJoined) -> None:
        self.touch_queue(event.queue)

    def wait_told(self, event: WaitAnnounced) -> None:
        self._m["callcentre_wait_estimates_told_total"].labels(event.queue).inc()
        if event.offered_due is not None:
            self._m["callcentre_wait_callback_offers_total"].labels(event.queue, "made").inc()

    def offer_taken(self, queue: str) -> None:
        self._m["callcentre_wait_callback_offers_total"].labels(queue, "taken").inc()

    def wait_error(self, queue: str, seconds: float) -> None:
        self._m["callcentre_wait_estimate_error_seconds"].labels(queue).observe(seconds)

    def wait_learnt(self, queue: str, figures: Mapping[str, float]) -> None:
        for kind, seconds in figures.items():
            self._m["callcentre_wait_learnt_seconds"].labels(queue, kind).set(seconds)

    def call_finished(self, call: Call) -> None:
        queue = call.queue or "none"
        self._m["callcentre_calls_total"].labels(queue, call.outcome or "unknown").inc()
        wait = call.wait_seconds
        if wait is not None and call.outcome is Outcome.ANSWERED:
            self._m["callcentre_answer_wait_seconds"].labels(queue).observe(wait)
        elif wait is not None and call.outcome is Outcome.ABANDONED:
            self._m["callcentre_abandon_wait_seconds"].labels(queue).observe(wait)
        if call.repeat_of is not None:
            self._m["callcentre_repeat_contacts_total"].labels(queue).inc()
        if call.out_of_hours:
            self._m["callcentre_out_of_hours_calls_total"].labels(queue).inc()


def _instrument(spec: MetricSpec, registry: CollectorRegistry,
                thresholds: Sequence[float]) -> Counter | Gauge | Histogram:
    name = spec.name.removesuffix("_total") if spec.kind is Kind.COUNTER else spec.name
    if spec.kind is Kind.GAUGE:
        return Gauge(name, spec.help, spec.labels, registry=registry)
    if spec.kind is Kind.HISTOGRAM:
        return Histogram(name, spec.help, spec.labels, registry=registry,
                         buckets=buckets_with(thresholds, spec.buckets))
    return Counter(name, spec.help, spec.labels, registry=registry)


class LiveCollector(Collector):
    def __init__(self, snapshot: Callable[[], LiveSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        s = self._snapshot()
        yield _gauge("callcentre_ami_connected", [((), 1.0 if s.ami_connected else 0.0)])
        yield _counter("callcentre_ami_reconnects_total", [((), s.reconnects)])
        age = math.nan if s.last_event_age is None else s.last_event_age
        yield _gauge("callcentre_ami_last_event_age_seconds", [((), age)])
        yield _counter("callcentre_ami_events_total", _bounded_events(s.events))
        yield _counter("callcentre_ami_parse_errors_total",
                       [((k,), v) for k, v in sorted(s.parse_errors.items())])
        yield _counter("callcentre_ami_handler_errors_total", [((), s.handler_errors)])
        yield _counter("callcentre_ami_untimed_events_total", [((), s.untimed)])
        yield _counter("callcentre_storage_write_failures_total", [((), s.write_failures)])
        yield _gauge("callcentre_calls_unsaved", [((), s.calls_unsaved)])
        yield _counter("callcentre_calls_set_aside_total", [((), s.calls_set_aside)])
        yield _counter("callcentre_storage_rows_unreadable_total",
                       [((t,), n) for t, n in sorted(s.unreadable_rows.items())])
        yield _counter("callcentre_ami_reader_held_seconds_total", [((), s.reader_held)])
        yield _gauge("callcentre_queue_callers_waiting",
                     [((q,), n) for q, (n, _) in sorted(s.waiting.items())])
        yield _gauge("callcentre_queue_longest_wait_seconds",
                     [((q,), w) for q, (_, w) in sorted(s.waiting.items())])
        yield _gauge("callcentre_queue_agents", [((q, state), n) for q, states in
                                                 sorted(s.agents.items())
                                                 for state, n in sorted(states.items())])
        yield from _pbx_families(s.runtime.pbxs)
        yield _gauge("callcentre_calls_in_progress", [((), s.in_progress)])
        yield _gauge("callcentre_open", [((), 1.0 if s.open else 0.0)])
        leads = s.runtime.leader is None or s.runtime.leader.role in ("leader", "sole")
        yield _gauge("callcentre_leader", [((), 1.0 if leads else 0.0)])
        if leads:  # read from the database: one instance reports them (no double counting)
            yield from _callback_families(s.callbacks)
        yield _gauge("callcentre_callbacks_not_placed", [((), s.callbacks_not_placed)])
        yield _counter("callcentre_callback_calls_not_placed_total", [((), s.calls_not_placed)])
        p = s.promises
        yield _counter("callcentre_callback_promises_total",
                       [(("sized",), p.sized), (("fixed",), p.fixed)])
        yield _counter("callcentre_callback_dispatch_held_total",
                       [(("crowded",), p.held_for_queue), (("place",), p.held_for_place)])
        yield _counter("callcentre_callbacks_dialled_over_queue_total",
                       [((), p.urgent_over_queue)])
        yield from _ledger_families(s.ledger)
        yield from _runtime_families(s.runtime)


def _ledger_families(r: LedgerReport) -> Iterable[Metric]:
    yield _gauge("callcentre_ledger_mode", [((m,), 1.0 if r.mode == m else 0.0)
                                            for m in ("ami_only", "queue_log")])
    yield _gauge("callcentre_ledger_readable", [((), 1.0 if r.state == "reading" else 0.0)])
    yield _counter("callcentre_ledger_lines_total",
                   [(("read",), r.lines - r.malformed), (("malformed",), r.malformed)])
    yield _counter("callcentre_ledger_calls_settled_total",
                   [(("agreed",), r.agreed), (("corrected",), r.corrected),
                    (("created",), r.created)])



def _runtime_families(r: RuntimeReport) -> Iterable[Metric]:
    yield _counter("callcentre_task_restarts_total",
                   [((name,), t.restarts) for name, t in sorted(r.tasks.items())])
    yield _gauge("callcentre_http_connections", [((), r.http_open)])
    yield _counter("callcentre_http_connections_refused_total", [((), r.http_refused)])
    yield _counter("callcentre_http_connections_closed_total",
                   [((k,), v) for k, v in sorted(r.http_closed.items())])
    yield _gauge("callcentre_live_subscribers", [((), r.live_subscribers)])
    yield _counter("callcentre_live_subscribers_dropped_total", [((), r.live_dropped)])


def _callback_families(c: CallbackCounts) -> Iterable[Metric]:
    yield _counter("callcentre_callbacks_promised_total",
                   [((k,), v) for k, v in sorted(c.promised.items())])
    yield _counter("callcentre_callbacks_closed_total",
                   [((k,), v) for k, v in sorted(c.closed.items())])
    # every pair always present, so the recording rules' sums never go missing
    results = sorted(r.value for r in CORRECTABLE)
    pairs = [(a, b) for a in results for b in results if a != b]
    yield _counter("callcentre_callbacks_corrected_total",
                   [((a, b), c.corrected.get((a, b), 0)) for a, b in pairs])
    yield _counter("callcentre_callbacks_extended_total", [((), c.extended)])
    states = {"pending": 0, "dialling": 0, "needs_outcome": 0, **c.open_by_state}
    yield _gauge("callcentre_callbacks_open", [((k,), v) for k, v in sorted(states.items())])
    yield _gauge("callcentre_callbacks_at_risk", [((), c.at_risk)])
    yield _gauge("callcentre_callbacks_overdue", [((), c.overdue)])
    yield _gauge("callcentre_callbacks_due_next_hour", [((), c.due_next_hour)])


def _bounded_events(events: Mapping[tuple[str, str], int]) -> list[tuple[tuple[str, ...], float]]:
    out: dict[tuple[str, str], int] = {}
    names: set[str] = set()
    for (event, result), n in sorted(events.items()):
        name = event if event in names or len(names) < MAX_EVENT_NAMES else "other"
        names.add(name)
        out[(name, result)] = out.get((name, result), 0) + n
    return [(k, v) for k, v in out.items()]


def _pbx_families(pbxs: Iterable[Mapping[str, Any]]) -> Iterable[Metric]:
    """Each PBX's (site's) link and leader, as /healthz ``pbxs`` has them."""
    pbxs = list(pbxs)
    yield _gauge("callcentre_pbx_ami_connected",
                 [((p["pbx"],), 1.0 if p["ami"] == "connected" else 0.0) for p in pbxs])
    yield _gauge("callcentre_pbx_leader",
                 [((p["pbx"],), 1.0 if p["role"] in ("leader", "sole") else 0.0) for p in pbxs])


def _gauge(name: str, samples: list[tuple[tuple[str, ...], float]]) -> GaugeMetricFamily:
    spec = BY_NAME[name]
    family = GaugeMetricFamily(name, spec.help, labels=spec.labels)
    for labels, value in samples:
        family.add_metric(list(labels), value)
    return family


def _counter(name: str, samples: list[tuple[tuple[str, ...], float]]) -> CounterMetricFamily:
    spec = BY_NAME[name]
    family = CounterMetricFamily(name.removesuffix("_total"), spec.help, labels=spec.labels)
    for labels, value in samples:
        family.add_metric(list(labels), value)
    return family
