"""Alertmanager's configuration: every callcentre alert routed to the person the council names.

``callcentre alertmanager-config`` writes it from the settings ``alert_webhook_url`` and
``alert_email_*`` (config.py): one receiver, ``council``, that posts Alertmanager's webhook JSON
and/or sends email. Alerts are grouped per alert and queue; a critical one (a promise broken,
calls not measured) is repeated every hour while it lasts, a warning every four hours, and each
is followed by its resolution. While the AMI link is down, the alerts it causes are held back.
Nothing here names a resident: the rules' labels are severity, queue, task and threshold only.
"""

from __future__ import annotations

from dataclasses import dataclass

from callcentre.config import Config
from callcentre.observability.yaml_text import Value, dump

RECEIVER = "council"

HEADER = """\
Alertmanager's configuration for callcentre, generated from the service's settings by
`callcentre alertmanager-config` (callcentre/observability/alertmanager.py). Set the receiver
with alert_webhook_url and/or alert_email_to, alert_email_from, alert_smtp_smarthost,
alert_smtp_tls, alert_smtp_username, alert_smtp_password_file (README: "Alerts"), then render it
again."""

NOBODY = """
No receiver is set: alerts are shown in Alertmanager's own pages and reach nobody."""


@dataclass(frozen=True)
class Timing:
    """How alerts are batched and repeated (Alertmanager's route timers)."""

    group_wait: str = "30s"  # the first notification of a new group waits this long for others
    group_interval: str = "5m"  # a group's next notification, when alerts joined or resolved
    repeat_warning: str = "4h"  # a warning still firing is sent again
    repeat_critical: str = "1h"  # a critical alert still firing is sent again


def render(config: Config, timing: Timing = Timing()) -> str:
    """Alertmanager's YAML configuration for these settings."""
    receiver = _receiver(config)
    header = HEADER + ("" if len(receiver) > 1 else NOBODY)
    document: dict[str, Value] = {
        "route": _route(timing),
        "inhibit_rules": _inhibitions(),
        "receivers": [receiver],
    }
    return dump(document, header)


def _route(timing: Timing) -> dict[str, Value]:
    return {
        "receiver": RECEIVER,
        "group_by": ["alertname", "queue", "task"],
        "group_wait": timing.group_wait,
        "group_interval": timing.group_interval,
        "repeat_interval": timing.repeat_warning,
        "routes": [{"matchers": ['severity="critical"'], "receiver": RECEIVER,
                    "repeat_interval": timing.repeat_critical}],
    }


def _inhibitions() -> list[Value]:
    """Without the AMI link, the silence it causes is no news: only the link's alert is sent."""
    return [{"source_matchers": ['alertname="CallcentreAmiDisconnected"'],
             "target_matchers": ['alertname=~"CallcentreNoEventsDuringOpeningHours|'
                                 'CallcentreNoQueueEvents"']}]


def _receiver(c: Config) -> dict[str, Value]:
    receiver: dict[str, Value] = {"name": RECEIVER}
    if c.alert_webhook_url:
        receiver["webhook_configs"] = [{"url": c.alert_webhook_url, "send_resolved": True}]
    if c.alert_email_to:
        email: dict[str, Value] = {"to": c.alert_email_to, "from": c.alert_email_from,
                                   "smarthost": c.alert_smtp_smarthost, "send_resolved": True}
        if c.alert_smtp_tls == "none":  # Alertmanager's default is to require STARTTLS
            email["require_tls"] = False
        if c.alert_smtp_username:  # no user name: the server asks for no password either
            email["auth_username"] = c.alert_smtp_username
            if c.alert_smtp_password_file:
                email["auth_password_file"] = c.alert_smtp_password_file
        receiver["email_configs"] = [email]
    return receiver
