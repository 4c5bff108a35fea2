"""Prometheus recording and alerting rules, made from the council's own standards.

The service-level thresholds and targets, the short-abandon time, the abandon-rate target and
the at-risk margin of callbacks are settings (config.py); the rules that measure and alert on
them are written from those settings by ``callcentre rules``, so that Prometheus judges the
same standards the service publishes. metrics/rules.yml is the render of the defaults, and
tests/adapters/test_prometheus_rules.py fails when it is edited by hand or drifts.

Every alert has a ``severity`` (critical: a promise is broken or nothing is being measured;
warning: a promise or a standard is at risk), which alertmanager.py routes on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from callcentre.config import Config
from callcentre.errors import ConfigError
from callcentre.observability.yaml_text import Commented, Flow, Value, dump

# Calls offered in the last hour before a queue's hourly figures are judged: fewer say little.
MIN_CALLS = 10
WINDOWS = ("5m", "1h", "1d")
# Closed callbacks in the last day before its kept ratio is judged.
MIN_CALLBACKS = 10
QUEUED = "answered|abandoned|timeout|exit_with_key|exit_empty|left_queue"
DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")

HEADER = """\
Recording and alerting rules for callcentre, generated from the service's settings by
`callcentre rules` (callcentre/observability/alert_rules.py): do not edit. To change a target
or a threshold, change the setting and render the file again (README: "Alerts").
This file is the render of the default settings; tests/adapters/test_prometheus_rules.py
fails when it differs from that render. Tested with `promtool test rules` (metrics/tests/).

Definitions (the same ones the standards page uses):
  offered        = calls that reached a queue and ended: answered + abandoned + timeout +
                   exit_with_key + exit_empty + left_queue,
                   minus short abandons (abandoned within short_abandon_seconds: {short} s)
  service level  = answered within T / offered, for each threshold T (service_level_thresholds:
                   {thresholds})
  abandon rate   = (abandoned - short abandons) / offered
  answer time    = mean queue wait of answered calls
  callbacks kept = kept / (kept + late + missed), of callbacks closed in the window
    (kept: closed kept, plus corrections to kept, minus corrections from kept in the
    window; a correction moves between kept, late and missed, so the sum below stays)
The le="..." bucket edges are the settings' thresholds: the service's histograms have an edge
at each of them."""


@dataclass(frozen=True)
class Standards:
    """What the rules are made from: the council's standards, as the service's settings."""

    service_levels: tuple[tuple[int, float], ...]  # (seconds, share to answer within them)
    short_abandon: int
    abandon_rate_target: float
    kept_target: float
    at_risk_minutes: float
    silence_minutes: float  # calls and no queue event this long: the AMI account's rights

    @classmethod
    def of(cls, config: Config) -> Standards:
        levels = tuple((int(t), target) for t, target in zip(
            config.service_level_thresholds, config.service_level_targets, strict=True))
        return cls(levels, int(config.short_abandon_seconds), config.abandon_rate_target,
                   config.callback_kept_target, config.callback_at_risk_minutes,
                   config.queue_events_silence_minutes)


def render(config: Config, pending: str | None = None) -> str:
    """metrics/rules.yml for these settings. ``pending``, e.g. "1s", replaces every alert's
    ``for:`` (a drill of the alert chain, or a test that cannot wait minutes); ConfigError
    when it is not a Prometheus duration."""
    if pending is not None and not DURATION.fullmatch(pending):
        raise ConfigError(f"--pending {pending!r}: give a Prometheus duration, e.g. 1s or 2m")
    standards = Standards.of(config)
    header = HEADER.format(short=standards.short_abandon,
                           thresholds=", ".join(f"{t} s" for t, _ in standards.service_levels))
    groups: list[Value] = [
        {"name": "callcentre-recording", "rules": recording_rules(standards)},
        {"name": "callcentre-alerts", "rules": alerting_rules(standards, pending)},
    ]
    return dump({"groups": groups}, header)


def _le(seconds: float) -> str:
    """A bucket's le label as the service exports it (prometheus-client's formatting)."""
    return str(floatToGoString(float(seconds)))  # type: ignore[no-untyped-call]


def recording_rules(s: Standards) -> list[Value]:
    rules: list[Value] = []
    for w in WINDOWS:
        rules += _queue_figures(s, w)
    rules += [_record(f"callcentre_callbacks_kept:ratio{w}", _kept_ratio(w)) for w in WINDOWS]
    return rules


def _record(name: str, expr: str) -> Value:
    return {"record": name, "expr": expr}


def _queue_figures(s: Standards, w: str) -> list[Value]:
    short = f'sum by (queue) (increase(callcentre_abandon_wait_seconds_bucket{{le="{_le(s.short_abandon)}"}}[{w}]))'
    offered = f"queue:callcentre_calls_offered:increase{w}"
    rules = [
        _record(offered, f'sum by (queue) (increase(callcentre_calls_total{{outcome=~"{QUEUED}"}}[{w}]))\n'
                f"- ({short} or sum by (queue) (increase(callcentre_calls_total[{w}])) * 0)"),
        _record(f"queue:callcentre_calls_answered:increase{w}",
                f'sum by (queue) (increase(callcentre_calls_total{{outcome="answered"}}[{w}]))'),
    ]
    for t, _ in s.service_levels:
        within = f"queue:callcentre_answered_within_{t}s:increase{w}"
        rules.append(_record(within, "sum by (queue) (increase(callcentre_answer_wait_seconds_"
                             f'bucket{{le="{_le(t)}"}}[{w}]))'))
        rules.append(_record(f"queue:callcentre_service_level_{t}s:ratio{w}",
                             f"{within} / ({offered} > 0)"))
    rules.append(_record(f"queue:callcentre_answer_time_seconds:mean{w}",
                         f"sum by (queue) (increase(callcentre_answer_wait_seconds_sum[{w}]))\n"
                         f"/ (sum by (queue) (increase(callcentre_answer_wait_seconds_count[{w}])) > 0)"))
    rules.append(_record(f"queue:callcentre_abandon_rate:ratio{w}",
                         f"(sum by (queue) (increase(callcentre_abandon_wait_seconds_count[{w}]))\n"
                         f" - {short})\n/ ({offered} > 0)"))
    return rules


def _kept_ratio(w: str) -> str:
    return (f'(sum(increase(callcentre_callbacks_closed_total{{result="kept"}}[{w}]))\n'
            f' + (sum(increase(callcentre_callbacks_corrected_total{{to="kept"}}[{w}])) or vector(0))\n'
            f' - (sum(increase(callcentre_callbacks_corrected_total{{from="kept"}}[{w}])) or vector(0)))\n'
            f'/ (sum(increase(callcentre_callbacks_closed_total{{result=~"kept|late|missed"}}[{w}])) > 0)')


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str | None
    severity: str
    summary: str
    why: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    def rule(self, pending: str | None) -> Value:
        rule: dict[str, Value] = {"alert": self.name, "expr": self.expr}
        if self.for_ is not None:
            rule["for"] = pending or self.for_
        rule["labels"] = Flow({"severity": self.severity, **dict(self.labels)})
        rule["annotations"] = {"summary": self.summary}
        return Commented(self.why, rule) if self.why else rule


def percent(share: float) -> str:
    return f"{share * 100:g} %"


def alerting_rules(s: Standards, pending: str | None = None) -> list[Value]:
    alerts = [*standards_alerts(s), *link_alerts(s), *callback_alerts(s), *service_alerts()]
    return [alert.rule(pending) for alert in alerts]


def standards_alerts(s: Standards) -> Sequence[Alert]:
    """The council's published standards, judged per queue over the last hour."""
    found = [Alert(
        "CallcentreServiceLevelBelowTarget",
        f"queue:callcentre_service_level_{t}s:ratio1h < {target!r}"
        f" and queue:callcentre_calls_offered:increase1h >= {MIN_CALLS}", "15m", "warning",
        f"Queue {{{{ $labels.queue }}}}: {{{{ $value | humanizePercentage }}}} answered within {t} s"
        f" in the last hour (target {percent(target)})",
        f"Target: {percent(target)} answered within {t} s over the last hour, once at least"
        f" {MIN_CALLS} calls were offered.", (("threshold", f"{t}s"),))
        for t, target in s.service_levels]
    found.append(Alert(
        "CallcentreAbandonRateAboveTarget",
        f"queue:callcentre_abandon_rate:ratio1h > {s.abandon_rate_target!r}"
        f" and queue:callcentre_calls_offered:increase1h >= {MIN_CALLS}", "15m", "warning",
        "Queue {{ $labels.queue }}: {{ $value | humanizePercentage }} of offered calls abandoned"
        f" in the last hour (target at most {percent(s.abandon_rate_target)})",
        f"Target: at most {percent(s.abandon_rate_target)} of offered calls abandoned after"
        f" {s.short_abandon} s, over the last hour, once at least {MIN_CALLS} were offered."))
    return found


def _window(minutes: float) -> tuple[str, str]:
    """A PromQL range for so many minutes, and the same in words."""
    seconds = round(minutes * 60)
    if seconds % 60:
        return f"{seconds}s", f"{seconds} seconds"
    return f"{seconds // 60}m", f"{seconds // 60} minutes"


def link_alerts(s: Standards) -> Sequence[Alert]:
    """Asterisk and the AMI link: while these fire, calls are not being measured."""
    return [
        Alert("CallcentreAmiDisconnected", "callcentre_pbx_ami_connected == 0", "2m", "critical",
              "callcentre has no AMI link to Asterisk (PBX {{ $labels.pbx }}): its calls are "
              "not being logged"),
        Alert("CallcentreNoEventsDuringOpeningHours",
              "callcentre_ami_last_event_age_seconds > 600 and on() callcentre_open == 1",
              "5m", "warning",
              "No AMI events for {{ $value | humanizeDuration }} while the contact centre is open",
              "Open, linked, and not one AMI frame (pings answer too) for 10 minutes: Asterisk is"
              " stuck."),
        Alert("CallcentreAmiEventsWithoutTimestamp",
              "increase(callcentre_ami_untimed_events_total[10m]) > 0", "1m", "warning",
              "AMI events arrive without a Timestamp: set timestampevents = yes in manager.conf",
              "manager.conf timestampevents = no (Asterisk's default): waits are timed on"
              " arrival."),
        _no_queue_events(s),
    ]


def _no_queue_events(s: Standards) -> Alert:
    window, words = _window(s.silence_minutes)
    return Alert(
        "CallcentreNoQueueEvents",
        f'sum(increase(callcentre_ami_events_total{{event="Newchannel",result="handled"}}[{window}])) >= 3\n'
        f'and on() (sum(increase(callcentre_ami_events_total{{event="QueueCallerJoin",result="handled"}}[{window}])) or vector(0)) == 0\n'
        "and on() max(callcentre_open) == 1", "5m", "warning",
        f"{{{{ $value }}}} calls in {words} and no queue event: check the AMI account's read classes",
        "Calls arrive during opening hours but no queue event does: the AMI account lacks\n"
        "the 'agent' read class (every queue call would be logged hung_up_before_queue).\n"
        f"The window is queue_events_silence_minutes ({words}), as /healthz's warning.")


def callback_alerts(s: Standards) -> Sequence[Alert]:
    """Promises to call residents back. No label or annotation names a resident or a number:
    the alert says how many, the agent page says which."""
    margin = f"{s.at_risk_minutes:g} minutes"
    return [
        Alert("CallcentreCallbacksAtRisk", "callcentre_callbacks_at_risk > 0", "2m", "warning",
              f"{{{{ $value }}}} call-back(s) due within {margin} with no attempt made yet",
              f"A promise is about to be broken: due within {margin} (callback_at_risk_minutes)"
              " and not tried yet."),
        Alert("CallcentreCallbacksOverdue", "callcentre_callbacks_overdue > 0", "1m", "critical",
              "{{ $value }} call-back(s) past the time we promised the resident"),
        Alert("CallcentreCallbacksCannotBePlaced", "callcentre_callbacks_not_placed > 0", "5m",
              "critical",
              "{{ $value }} call-back(s) cannot be placed: the phone system refuses the calls",
              "The PBX refuses the callbacks' calls (or cannot be asked): trunk down, originate\n"
              "rights missing, link lost. They are retried with back-off, but promises are at"
              " stake."),
        Alert("CallcentreCallbacksKeptBelowTarget",
              f"callcentre_callbacks_kept:ratio1d < {s.kept_target!r}\n"
              f'and on() sum(increase(callcentre_callbacks_closed_total{{result=~"kept|late|missed"}}[1d])) >= {MIN_CALLBACKS}',
              "1h", "warning",
              "{{ $value | humanizePercentage }} of callbacks kept in the last day"
              f" (target {percent(s.kept_target)})",
              f"Target: {percent(s.kept_target)} of callbacks kept (callback_kept_target), over"
              f" the last day, once at least {MIN_CALLBACKS} were closed."),
    ]


def service_alerts() -> Sequence[Alert]:
    """callcentre itself: restarted tasks, skipped items, not scraped."""
    return [
        Alert("CallcentreTaskRestarting",
              "sum by (task) (increase(callcentre_task_restarts_total[15m])) > 0", None, "warning",
              "callcentre task {{ $labels.task }} was restarted after an unexpected error in the"
              " last 15 minutes: see the service's log",
              "A long-running task (ami, calllog, dialler, resync, live-feed) raised an unexpected\n"
              "exception and the supervisor started it again, with back-off: a bug or a broken\n"
              "dependency. /healthz says degraded and names it; the log has the traceback."),
        Alert("CallcentreItemsSkipped",
              "sum(increase(callcentre_ami_handler_errors_total[15m]))\n"
              "+ sum(increase(callcentre_calls_set_aside_total[15m]))\n"
              "+ (sum(increase(callcentre_storage_rows_unreadable_total[15m])) or vector(0)) > 0",
              None, "warning",
              "callcentre skipped {{ $value }} AMI events, calls or stored rows after an error in"
              " the last 15 minutes: see the service's log",
              "An AMI event a handler failed on, a call that could not be stored, or a stored row\n"
              "that cannot be read back was skipped so the rest could go on: a bug or a value\n"
              "nothing expected. The call it belonged to may be wrong or missing; /healthz names\n"
              "it; the log has the traceback."),
        Alert("CallcentreNoLeader", 'sum(callcentre_leader{job="callcentre"}) == 0', "1m",
              "critical",
              "No callcentre instance leads the PBX: calls are not logged, callbacks not dialled",
              "Instances on one PostgreSQL database are scraped and every one stands by: none\n"
              "holds the lead, so nothing consumes the PBX's events. /healthz says why each\n"
              "one's role is what it is; a takeover takes seconds, so this is no failover."),
        Alert("CallcentrePbxNoLeader",
              'sum by (pbx) (callcentre_pbx_leader{job="callcentre"}) == 0', "1m", "critical",
              "No callcentre instance leads PBX {{ $labels.pbx }}: its calls are not logged",
              "As CallcentreNoLeader, for one PBX (site) of several."),
        Alert("CallcentreNotScraped", 'absent(up{job="callcentre"} == 1)', "5m", "critical",
              "Prometheus cannot scrape callcentre"),
    ]
