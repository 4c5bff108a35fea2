"""`callcentre alertmanager-config`: Alertmanager's configuration from the alert_* settings,
checked by Alertmanager's own amtool, and every callcentre alert routed to the council's
receiver (tests/integration/test_alerts_real.py delivers one through a real Alertmanager)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from callcentre.__main__ import main
from callcentre.config import Config, load
from callcentre.errors import ConfigError
from callcentre.observability.alert_rules import render as render_rules
from callcentre.observability.alertmanager import Timing, render

AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool not installed (Debian package 'prometheus-alertmanager'; "
    "tests/system-deps.sh installs it when run as root)")

EMAIL = {"alert_email_to": "managers@council.example", "alert_email_from": "cc@council.example",
         "alert_smtp_smarthost": "smtp.council.example:587", "alert_smtp_username": "cc",
         "alert_smtp_password_file": "/run/secrets/smtp_password"}
WEBHOOK = {"alert_webhook_url": "https://hooks.council.example/callcentre"}


def _config(**settings: str) -> Config:
    return load(overrides=settings)


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, check=False)  # type: ignore[list-item]


@needs_amtool
@pytest.mark.parametrize("settings", [{}, WEBHOOK, EMAIL, WEBHOOK | EMAIL],
                         ids=["nobody", "webhook", "email", "both"])
def test_alertmanager_accepts_the_configuration(tmp_path: Path, settings: dict[str, str]) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(render(_config(**settings)))
    done = _amtool("check-config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


@needs_amtool
def test_every_alert_of_the_rules_reaches_the_council(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(render(_config(**WEBHOOK)))
    alerts = {(rule["alert"], rule["labels"]["severity"])
              for group in yaml.safe_load(render_rules(Config()))["groups"]
              for rule in group["rules"] if "alert" in rule}
    assert {"CallcentreCallbacksAtRisk", "CallcentreCallbacksOverdue",
            "CallcentreServiceLevelBelowTarget", "CallcentreAmiDisconnected"} <= {a for a, _ in alerts}
    for name, severity in alerts:
        done = _amtool("config", "routes", "test", f"--config.file={path}",
                       "--verify.receivers=council", f"alertname={name}", f"severity={severity}",
                       "queue=council")
        assert done.returncode == 0, (name, done.stdout + done.stderr)


def test_receivers_from_the_settings_and_no_password_in_the_file() -> None:
    document = yaml.safe_load(render(_config(**WEBHOOK, **EMAIL)))
    [receiver] = document["receivers"]
    assert receiver["webhook_configs"] == [{"url": WEBHOOK["alert_webhook_url"],
                                            "send_resolved": True}]
    [email] = receiver["email_configs"]
    assert email["to"] == "managers@council.example"
    assert email["smarthost"] == "smtp.council.example:587"
    assert email["auth_password_file"] == "/run/secrets/smtp_password"
    assert not any("password" in key and key != "auth_password_file" for key in email)
    assert document["route"]["group_by"] == ["alertname", "queue", "task"]


def test_starttls_is_required_unless_the_council_says_its_relay_has_none() -> None:
    def email(**more: str) -> dict[str, object]:
        return dict(yaml.safe_load(render(_config(**EMAIL, **more)))["receivers"][0]["email_configs"][0])
    assert "require_tls" not in email()  # Alertmanager's default: true
    assert email(alert_smtp_tls="none")["require_tls"] is False


def test_with_no_receiver_it_says_so() -> None:
    text = render(Config())
    assert "reach nobody" in text
    assert yaml.safe_load(text)["receivers"] == [{"name": "council"}]


def test_timing_is_a_parameter() -> None:
    route = yaml.safe_load(render(Config(), Timing("1s", "1s", "1m", "1m")))["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("1s", "1s", "1m")


@pytest.mark.parametrize(("settings", "says"), [
    ({"alert_webhook_url": "hooks.council.example"}, "alert_webhook_url"),
    ({"alert_email_to": "a@council.example"}, "alert_email_from"),
    (EMAIL | {"alert_smtp_smarthost": "smtp.council.example"}, "host:port"),
    (EMAIL | {"alert_smtp_tls": "ssl"}, "starttls or none"),
])
def test_bad_receiver_settings_are_refused(settings: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        _config(**settings)


def test_the_cli_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "alertmanager.yml"
    assert main(["--set", f"alert_webhook_url={WEBHOOK['alert_webhook_url']}",
                 "alertmanager-config", "-o", str(out)]) == 0
    assert out.read_text() == render(_config(**WEBHOOK))
