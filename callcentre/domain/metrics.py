"""The metric catalogue: every metric callcentre exports, declared once.

``observability/prometheus.py`` binds it to an injected registry; metrics/README.md
documents it and tests/meta/test_metrics_documented.py keeps the two in step.
Labels stay low-cardinality: queue, outcome, source, result, state, event — never a
phone number, a case or an agent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class Source(enum.StrEnum):
    EVENT = "event"  # updated as things happen
    SCRAPE = "scrape"  # computed when Prometheus scrapes


# Answer-time buckets in seconds; the configured service-level thresholds are added.
WAIT_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    source: Source = Source.EVENT
    buckets: tuple[float, ...] = ()


def _event(name: str, kind: Kind, help_text: str, *labels: str,
           buckets: tuple[float, ...] = ()) -> MetricSpec:
    return MetricSpec(name, kind, help_text, labels, Source.EVENT, buckets)


def _scrape(name: str, kind: Kind, help_text: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, kind, help_text, labels, Source.SCRAPE)


CATALOGUE: tuple[MetricSpec, ...] = (
    # --- calls (counted when a call finishes) -------------------------------------------
    _event("callcentre_calls_total", Kind.COUNTER,
           "Finished inbound calls by queue and outcome.", "queue", "outcome"),
    _event("callcentre_answer_wait_seconds", Kind.HISTOGRAM,
           "Queue wait of answered calls (seconds).", "queue", buckets=WAIT_BUCKETS),
    _event("callcentre_abandon_wait_seconds", Kind.HISTOGRAM,
           "Queue wait of abandoned calls (seconds).", "queue", buckets=WAIT_BUCKETS),
    _event("callcentre_repeat_contacts_total", Kind.COUNTER,
           "Finished calls from a number that had called within the repeat window.", "queue"),
    _event("callcentre_out_of_hours_calls_total", Kind.COUNTER,
           "Finished calls that arrived outside opening hours.", "queue"),
    _event("callcentre_call_outcome_corrections_total", Kind.COUNTER,
           "Finished calls whose outcome queue_log corrected after they were counted in"
           " callcentre_calls_total, by queue and the outcome counted then and now (a call"
           " the call log never saw is counted in callcentre_calls_total when settled).",
           "queue", "from_outcome", "to_outcome"),
    _event("callcentre_retention_anonymised_total", Kind.COUNTER,
           "Records whose personal data was anonymised, by kind (calls, callbacks, cases,"
           " ledger_lines): their retention period was over (the daily purge) or the resident"
           " asked (callcentre subject erase, counted in the process that ran it).", "kind"),
    # --- what residents in the queue are told (services/waits.py) --------------------------
    _event("callcentre_wait_estimates_told_total", Kind.COUNTER,
           "Estimated waits the dialplan told residents in the queue (on joining and at each"
           " periodic announcement).", "queue"),
    _event("callcentre_wait_callback_offers_total", Kind.COUNTER,
           "Callbacks offered to residents whose estimated wait was over"
           " callback_offer_wait_seconds (result made), and offers taken with key 1 (taken).",
           "queue", "result"),
    _event("callcentre_wait_estimate_error_seconds", Kind.HISTOGRAM,
           "Absolute difference between the first wait estimated for an answered resident and"
           " the wait they had until an agent answered (seconds).", "queue",
           buckets=WAIT_BUCKETS),
    _event("callcentre_wait_learnt_seconds", Kind.GAUGE,
           "What the waits residents had taught the estimate, per queue (kind lag: the median"
           " wait of residents told an agent was free; handling: an agent's whole turn per"
           " call). Absent until enough waits were seen; learnt in memory, so it starts again"
           " after a restart.", "queue", "kind"),
    # --- live queue state ------------------------------------------------------------------
    _scrape("callcentre_queue_callers_waiting", Kind.GAUGE,
            "Callers in the queue right now.", "queue"),
    _scrape("callcentre_queue_longest_wait_seconds", Kind.GAUGE,
            "How long the longest-waiting caller has waited so far.", "queue"),
    _scrape("callcentre_queue_agents", Kind.GAUGE,
            "Queue members by state: available, busy (on a call or device in use), paused,"
            " unavailable (device unreachable).",
            "queue", "state"),
    _scrape("callcentre_pbx_ami_connected", Kind.GAUGE,
            "Per PBX (site, the pbx setting's name): 1 while logged in to its AMI, else 0."
            " callcentre_ami_connected is the main PBX's.", "pbx"),
    _scrape("callcentre_pbx_leader", Kind.GAUGE,
            "Per PBX: 1 on the instance that leads it (always, for one process on SQLite),"
            " else 0.", "pbx"),
    _scrape("callcentre_calls_in_progress", Kind.GAUGE, "Inbound calls not yet ended."),
    _scrape("callcentre_open", Kind.GAUGE,
            "1 while the contact centre is open (scheduler/policy.toml), else 0."),
    _scrape("callcentre_leader", Kind.GAUGE,
            "1 on the instance that leads the PBX (always, for one process on SQLite), 0 on a"
            " standby. Only the leader reports the callback figures counted from the database"
            " (callcentre_callbacks_*), so sums over instances count them once."),
    # --- callbacks (counted from the database when scraped, so exact across restarts) -----
    _scrape("callcentre_callbacks_promised_total", Kind.COUNTER,
            "Callbacks promised, by source (agent, queue_keypress, abandoned, out_of_hours).",
            "source"),
    _scrape("callcentre_callbacks_closed_total", Kind.COUNTER,
            "Callbacks closed, by the result they were closed with (kept, late, missed,"
            " cancelled); later corrections are counted in callcentre_callbacks_corrected_total.",
            "result"),
    _scrape("callcentre_callbacks_corrected_total", Kind.COUNTER,
            "Closed callbacks' results corrected by an agent, from one result to another"
            " (kept, late, missed).", "from", "to"),
    _scrape("callcentre_callbacks_extended_total", Kind.COUNTER,
            "Callbacks whose deadline was moved later at least once."),
    _scrape("callcentre_callbacks_open", Kind.GAUGE,
            "Open callbacks by state (pending, dialling, needs_outcome).", "state"),
    _scrape("callcentre_callbacks_at_risk", Kind.GAUGE,
            "Open callbacks due within the at-risk margin with no attempt made yet."),
    _scrape("callcentre_callbacks_overdue", Kind.GAUGE,
            "Open callbacks past their deadline."),
    _scrape("callcentre_callbacks_due_next_hour", Kind.GAUGE,
            "Open callbacks due within the next hour."),
    _scrape("callcentre_callbacks_not_placed", Kind.GAUGE,
            "Callbacks whose last call the PBX refused or could not be asked for (retried"
            " with back-off): callbacks cannot be placed."),
    _scrape("callcentre_callback_calls_not_placed_total", Kind.COUNTER,
            "Callback calls the PBX refused or could not be asked for, since the service"
            " started."),
    _scrape("callcentre_callback_promises_total", Kind.COUNTER,
            "Callbacks promised with no deadline asked for, since the service started, by how"
            " the deadline was set (kind): sized (to the capacity expected) or fixed (the policy's"
            " rule: no history, sizing off, or sizing failed).", "kind"),
    _scrape("callcentre_callback_dispatch_held_total", Kind.COUNTER,
            "Times the dialler held ready callbacks back for residents in the queue (blending),"
            " by kind: crowded (a resident had waited longer than callback_blend_wait_seconds"
            " in the free agents' queues: one per dispatch round) or place (a resident who"
            " pressed the callback key waits for those who joined the queue before them: one"
            " per callback offered).", "kind"),
    _scrape("callcentre_callbacks_dialled_over_queue_total", Kind.COUNTER,
            "Callbacks dialled although residents waited beyond the blending threshold,"
            " because they were within callback_blend_margin_minutes of their deadline."),
    # --- health ----------------------------------------------------------------------------
    _scrape("callcentre_ami_connected", Kind.GAUGE, "1 while logged in to Asterisk AMI, else 0."),
    _scrape("callcentre_ami_reconnects_total", Kind.COUNTER,
            "AMI connection attempts after the first."),
    _scrape("callcentre_ami_last_event_age_seconds", Kind.GAUGE,
            "Seconds since the last AMI frame arrived (NaN before the first)."),
    _scrape("callcentre_ami_events_total", Kind.COUNTER,
            "AMI events by type and whether the call log used them.", "event", "result"),
    _scrape("callcentre_ami_parse_errors_total", Kind.COUNTER,
            "AMI input skipped: oversized frames, malformed lines, malformed events.", "kind"),
    _scrape("callcentre_ami_untimed_events_total", Kind.COUNTER,
            "AMI events without a usable Timestamp header (timestampevents = no?): timed on"
            " arrival instead."),
    _scrape("callcentre_ami_handler_errors_total", Kind.COUNTER,
            "Exceptions raised while handling an AMI event (isolated, counted)."),
    _scrape("callcentre_storage_write_failures_total", Kind.COUNTER,
            "Failed batch writes of calls (kept and retried)."),
    _scrape("callcentre_calls_set_aside_total", Kind.COUNTER,
            "Calls that could not be stored at all (a value no table holds): set aside with"
            " their later events, logged with the traceback; the rest of the batch is stored."),
    _scrape("callcentre_storage_rows_unreadable_total", Kind.COUNTER,
            "Stored rows skipped because a value cannot be read back (an old bug, a hand edit):"
            " left out of lists and work, 409 when asked for alone; logged. kind: the table.",
            "kind"),
    _scrape("callcentre_calls_unsaved", Kind.GAUGE,
            "Calls changed in memory and not yet stored; at call_log_max_pending the AMI reader"
            " stops until half are stored."),
    _scrape("callcentre_ami_reader_held_seconds_total", Kind.COUNTER,
            "Seconds the AMI reader stopped reading because the call log's backlog was full"
            " (back-pressure: TCP holds Asterisk back meanwhile)."),
    # --- the ledger (Asterisk's queue_log) -------------------------------------------------
    _scrape("callcentre_ledger_mode", Kind.GAUGE,
            "1 for the record that settles the figures: queue_log, or ami_only.", "mode"),
    _scrape("callcentre_ledger_readable", Kind.GAUGE,
            "1 while the queue_log file is being read, else 0 (0 in AMI-only mode)."),
    _scrape("callcentre_ledger_lines_total", Kind.COUNTER,
            "queue_log lines read since start, by result (read, malformed: skipped).", "result"),
    _scrape("callcentre_ledger_calls_settled_total", Kind.COUNTER,
            "Calls held against queue_log since start, by result (agreed, corrected, created:"
            " the call log never saw it).", "result"),
    _scrape("callcentre_task_restarts_total", Kind.COUNTER,
            "Restarts of a long-running task (ami, calllog, dialler, resync, live-feed, queue-log,"
            " ledger, retention) after an unexpected exception, with back-off.", "task"),
    _scrape("callcentre_http_connections", Kind.GAUGE, "HTTP connections open now."),
    _scrape("callcentre_http_connections_refused_total", Kind.COUNTER,
            "HTTP connections answered 503: at http_max_connections with none idle."),
    _scrape("callcentre_http_connections_closed_total", Kind.COUNTER,
            "HTTP connections the server's limits closed: header_timeout (no request head in"
            " time), body_timeout (a request body not in time), idle_evicted (made room for a new"
            " connection).", "kind"),
    _scrape("callcentre_live_subscribers", Kind.GAUGE,
            "Agents' live-page streams (server-sent events) open now."),
    _scrape("callcentre_live_subscribers_dropped_total", Kind.COUNTER,
            "Live-page streams dropped because the client did not read: its bounded queue"
            " filled or a write did not drain in time."),
)

BY_NAME = {spec.name: spec for spec in CATALOGUE}
