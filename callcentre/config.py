"""Settings, declared once: name, type, default and help text in one place.

Layers, lowest first: the defaults below < a TOML file (``--config`` or
``CALLCENTRE_CONFIG``) < ``CALLCENTRE_<NAME>`` environment variables < ``--set
name=value`` on the command line. README.md's settings table is checked against
this list by tests/meta/test_settings_documented.py.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcentre.domain.sites import valid_name
from callcentre.errors import ConfigError

ENV_PREFIX = "CALLCENTRE_"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
AUTO_QUEUE_LOG = "/var/log/asterisk/queue_log"  # Debian's Asterisk writes it here


@dataclass(frozen=True)
class Pbx:
    """One PBX (a site): its name, AMI login and queue_log ([[pbx]] in the config file)."""

    name: str
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "callcentre"
    ami_secret: str = ""
    queue_log: str = ""  # its queue_log file ('auto' as the setting); empty: AMI only

    @property
    def queue_log_path(self) -> str:
        return _queue_log_path(self.queue_log)


def setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Config:
    ami_host: str = setting("127.0.0.1", "Asterisk AMI host.")
    ami_port: int = setting(5038, "Asterisk AMI TCP port.")
    ami_username: str = setting("callcentre", "AMI user (manager.conf section in dialplans/).")
    ami_secret: str = setting("", "AMI secret. Never logged.")
    ami_ping_interval: float = setting(10.0, "Seconds between AMI pings.")
    ami_ping_timeout: float = setting(5.0, "Seconds to wait for a ping reply before dropping the link.")
    ami_reconnect_max: float = setting(30.0, "Longest wait between reconnect attempts, seconds.")
    ami_max_frame_bytes: int = setting(1 << 20, "Largest AMI message accepted; larger ones are skipped and counted.")
    call_log_max_pending: int = setting(5000, "Most calls changed in memory and not yet stored. At it, the service stops reading AMI until half are stored (TCP holds Asterisk back), so a burst or a slow database cannot grow memory without bound; the time held is callcentre_ami_reader_held_seconds_total.")
    db: str = setting("var/callcentre.sqlite3", "SQLite database file (created if missing), or a postgresql:// URL (an existing PostgreSQL database; migrated at start like the file). A URL's password is never logged.")
    db_password_file: str = setting("", "File holding the password of a postgresql:// db URL that names a user but no password (a container's secret, e.g. /run/secrets/db_password): read at start, never logged. Empty: the URL's own password, or none.")
    pbx: tuple[Pbx, ...] = setting((), "Several PBXs (sites): [[pbx]] tables in the config file only, each with name, ami_host, ami_port, ami_username, ami_secret and queue_log (README: Several PBXs). Each site dials its own callbacks and answers its own residents' wait questions. The first is the council's main PBX: its call ids and queue names are kept as Asterisk gives them; every other site's are written site:id and site:queue. Empty: the one PBX of the ami_* settings, queue_log and pbx_name.")
    pbx_name: str = setting("main", "This PBX's name: the key of its leadership when several instances share a PostgreSQL database, and shown on /healthz.")
    instance_name: str = setting("", "This process's name among several instances on one PostgreSQL database (unique; its connections' application_name). Empty: callcentre@host:pid.")
    leader_lease_seconds: float = setting(6.0, "With several instances on PostgreSQL: the leader renews its lead every third of this; a leader silent for longer is cut off and a standby takes over. The leader stops dialling and writing by its own clock before then.")
    db_readers: int = setting(4, "Read connections to the database (WAL lets them read side by side): each read takes a free one, so a long report holds one while the others keep answering. /healthz has one of its own besides. A :memory: database reads on its writer. On PostgreSQL: a pool of this many connections serves reads and writes alike, and /healthz has one of its own.")
    http_host: str = setting("127.0.0.1", "Address the HTTP API and pages listen on.")
    http_port: int = setting(8080, "HTTP port.")
    http_max_connections: int = setting(1000, "Most HTTP connections open at once (fewer if the file-descriptor limit cannot hold them). Beyond it a new connection takes the place of the one idle longest, or is answered 503 when none is idle.")
    http_header_timeout: float = setting(10.0, "Seconds a new HTTP connection has to send its first request's headers; then it is answered 408 and closed.")
    http_open_routes: tuple[str, ...] = setting((), "Routes anyone may use without signing in, beyond the public ones (/healthz, /public/standards, the council-wide standards API, /api/openapi.json, /signin). Closed by default: each is otherwise its role's (web/auth.py ACCESS), e.g. /metrics for a Prometheus without a token, /wallboard for a screen on the council's network.")
    session_hours: float = setting(12.0, "How long a browser stays signed in (never past its token's expiry).")
    oidc_issuer: str = setting("", "The council's OpenID Connect identity provider (its issuer URL, https; http only on this machine), for signing in with a council account. Empty: sign in with a token only.")
    oidc_client_id: str = setting("callcentre", "callcentre's client ID at the identity provider.")
    oidc_client_secret: str = setting("", "callcentre's client secret at the identity provider. Never logged.")
    oidc_name_claim: str = setting("email", "The ID token claim that names the person: it must equal the name of a person an admin added (callcentre person add), whose role then applies.")
    oidc_label: str = setting("your council account", "What the sign-in page calls the identity provider: \"Sign in with ...\".")
    oidc_redirect_uri: str = setting("", "Where the identity provider sends a browser back (registered there). Empty: /signin/oidc/callback on the address the browser used; set it behind a proxy.")
    http_body_timeout: float = setting(10.0, "Seconds a request's body may take to arrive after its headers; then it is answered 408 and the connection closed.")
    http_idle_timeout: float = setting(30.0, "Seconds an idle keep-alive HTTP connection stays open (also how long a next request's headers may take).")
    timezone: str = setting("Europe/London", "The council's time zone, for display and opening hours.")
    default_region: str = setting("GB", "Region for numbers dialled without a country code (ISO 3166).")
    inbound_contexts: tuple[str, ...] = setting(("council-inbound",), "Dialplan contexts where residents' calls arrive (comma-separated).")
    repeat_window_days: float = setting(7.0, "A call from a number that called within this many days is a repeat contact.")
    policy_file: str = setting("scheduler/policy.toml", "Opening hours, holidays and callback policy (TOML). The packaged default is used if the file is missing.")
    service_level_thresholds: tuple[float, ...] = setting((20.0, 60.0), "Answer-time thresholds in seconds that service levels are measured against (comma-separated); each is a histogram bucket edge.")
    service_level_targets: tuple[float, ...] = setting((0.8, 0.95), "Share of offered calls to answer within each threshold, in the same order (e.g. 0.8 = 80 %).")
    abandon_rate_target: float = setting(0.05, "Highest acceptable share of offered calls abandoned after the short-abandon time.")
    callback_kept_target: float = setting(0.9, "Share of callbacks to keep (resident reached by the promised time).")
    wrapup_codes: tuple[str, ...] = setting(("resolved", "resolved-after-transfer", "not-resolved-callback", "not-resolved-referred", "information-only", "wrong-number"), "Wrap-up codes an agent may set on a call (PUT /api/calls/{id}/wrapup, the agent page), comma-separated, in the order offered: what the call was about and whether it was settled. Any other code is refused (422).")
    council_name: str = setting("the council", "Shown on the published standards page.")
    languages: tuple[str, ...] = setting(("en",), "The council's languages, the first the default (comma-separated language codes, e.g. en,ga): the published standards page and its CSV/JSON are offered in each, chosen by ?lang= or the browser's Accept-Language. Each needs a catalogue in callcentre/locale/ (README: Languages); shipped: en, ga, fa. On the phone, a callback goes to an agent in its language's queue (council-<code>; the first: any other queue), and a language not listed here is served in the first.")
    short_abandon_seconds: float = setting(5.0, "Abandons quicker than this are short abandons, left out of offered calls (a histogram bucket edge; callcentre rules writes the same number into the Prometheus rules).")
    callback_at_risk_minutes: float = setting(30.0, "A pending callback due within this many minutes with no attempt yet is at risk (metric and alert).")
    callback_agent_ring_seconds: int = setting(20, "How long an agent's phone rings for a callback before it counts as not answered, seconds.")
    callback_blend_wait_seconds: float = setting(0.0, "Blending: no callback is dialled by an agent of a queue where a resident has waited longer than this many seconds, unless the callback is due within callback_blend_margin_minutes. 0: the answer threshold (the first of service_level_thresholds); negative: off (callbacks take any free agent).")
    callback_blend_margin_minutes: float = setting(30.0, "Blending: a callback due within this many minutes is dialled even while residents wait longer than the answer threshold.")
    callback_offer_wait_seconds: float = setting(0.0, "A resident in the queue whose estimated wait is over this many seconds is offered a callback (\"press 1 and we will call you back by ...\") with the time it would be promised by. 0: never offered.")
    callback_caller_id: str = setting('"Council callback" <callback>', "Caller ID the agent's phone shows for a callback (Originate CallerID).")
    queue_log: str = setting("auto", "Asterisk's queue_log file, read as the ledger that settles every queue call (same host, or a shared volume). 'auto': /var/log/asterisk/queue_log if it exists at start; empty: AMI only.")
    queue_events_silence_minutes: float = setting(15.0, "During opening hours, warn (/healthz, alert) when inbound calls have arrived for this many minutes and no queue event came.")
    queue_log_grace_seconds: float = setting(30.0, "A call queue_log has ended but the call log never saw is recorded from queue_log after this many seconds.")
    drain_seconds: float = setting(10.0, "Longest a stop (SIGTERM, SIGINT) may take: requests in progress get half of it; whatever still runs at the end is cut off and the process exits.")
    live_feed_queue: int = setting(8, "Board updates an agent's live page (server-sent events) may fall behind by; a client that does not read is then dropped.")
    live_feed_write_timeout: float = setting(30.0, "Seconds a write to a live-page stream may take to drain before the client is dropped as not reading.")
    alert_webhook_url: str = setting("", "Where Alertmanager posts alerts, as its webhook JSON (a chat or ticketing bridge, an on-call service): written into its configuration by callcentre alertmanager-config. Empty: no webhook.")
    alert_email_to: str = setting("", "Who Alertmanager emails alerts to (comma-separated addresses), e.g. the contact centre's managers. Empty: no email.")
    alert_email_from: str = setting("", "The From address of alert emails (needed with alert_email_to).")
    alert_smtp_smarthost: str = setting("", "The mail server that sends alert emails, host:port (needed with alert_email_to).")
    alert_smtp_username: str = setting("", "User name at the mail server, if it asks for one.")
    alert_smtp_tls: str = setting("starttls", "How alert emails reach the mail server: starttls (required: Alertmanager will not send without it) or none (a relay on the council's own network that offers no TLS).")
    alert_smtp_password_file: str = setting("", "File holding the mail server's password, read by Alertmanager itself: the password is never written into its configuration.")
    log_level: str = setting("INFO", "DEBUG, INFO, WARNING or ERROR.")
    log_format: str = setting("text", "text (one line per record, control characters escaped) or json (one JSON object per line).")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def queue_log_path(self) -> str:
        """The queue_log file to read, or "" for AMI only."""
        return _queue_log_path(self.queue_log)

    @property
    def pbxes(self) -> tuple[Pbx, ...]:
        """The PBXs, the main one first: the [[pbx]] entries, else the one of the ami_*
        settings."""
        return self.pbx or (Pbx(self.pbx_name, self.ami_host, self.ami_port, self.ami_username,
                                self.ami_secret, self.queue_log),)


def _queue_log_path(setting: str) -> str:
    if setting != "auto":
        return setting
    return AUTO_QUEUE_LOG if Path(AUTO_QUEUE_LOG).is_file() else ""


def settings() -> list[dataclasses.Field[Any]]:
    return list(dataclasses.fields(Config))


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def load(file: str | Path | None = None, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, str] | None = None) -> Config:
    """Build the config from the layers; raises ConfigError naming the bad setting."""
    env = env or {}
    values: dict[str, Any] = {}
    file = file or env.get(ENV_PREFIX + "CONFIG")
    if file:
        values.update(_from_file(Path(file)))
    for f in settings():
        if env_name(f.name) in env:
            values[f.name] = _coerce(f, env[env_name(f.name)], env_name(f.name))
    for key, raw in (overrides or {}).items():
        values[key] = _coerce(_field(key, "--set"), raw, f"--set {key}")
    config = Config(**values)
    _validate(config)
    return config


def _field(name: str, source: str) -> dataclasses.Field[Any]:
    for f in settings():
        if f.name == name:
            return f
    raise ConfigError(f"{source}: unknown setting {name!r}")


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from err
    return {k: _coerce(_field(k, str(path)), v, f"{path}: {k}") for k, v in data.items()}


def _coerce(f: dataclasses.Field[Any], value: Any, where: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "tuple[Pbx, ...]":
        return _pbx_entries(value, where)
    try:
        if kind.startswith("tuple["):
            items = value.split(",") if isinstance(value, str) else list(value)
            texts = [str(i).strip() for i in items if str(i).strip()]
            return tuple(float(t) for t in texts) if "float" in kind else tuple(texts)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {value!r} is not a valid {kind}") from err


def _pbx_entries(value: Any, where: str) -> tuple[Pbx, ...]:
    """[[pbx]] tables: each a name and the AMI settings of its PBX."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where}: several PBXs are given as [[pbx]] tables in the config "
                          "file (README: Several PBXs)")
    known = {f.name: f for f in dataclasses.fields(Pbx)}
    entries = []
    for n, table in enumerate(value, 1):
        unknown = sorted(set(table) - set(known))
        if unknown or "name" not in table:
            raise ConfigError(f"{where} #{n}: give a name; unknown keys: {unknown or 'none'}")
        fields = {k: _coerce(known[k], v, f"{where} #{n}: {k}") for k, v in table.items()}
        entries.append(Pbx(**fields))
    return tuple(entries)


# settings that must be greater than 0
POSITIVE = ("ami_ping_interval", "ami_ping_timeout", "ami_reconnect_max", "repeat_window_days",
            "http_max_connections", "http_header_timeout", "http_idle_timeout", "http_body_timeout", "session_hours",
            "live_feed_queue", "live_feed_write_timeout", "drain_seconds",
            "queue_log_grace_seconds", "queue_events_silence_minutes", "call_log_max_pending",
            "db_readers", "leader_lease_seconds")


def _validate(c: Config) -> None:
    try:
        ZoneInfo(c.timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(f"timezone: unknown time zone {c.timezone!r}") from err
    for name in ("ami_port", "http_port"):
        if not 0 <= getattr(c, name) <= 65535:
            raise ConfigError(f"{name}: must be a TCP port (0-65535)")
    for name in POSITIVE:
        if getattr(c, name) <= 0:
            raise ConfigError(f"{name}: must be greater than 0")
    if c.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("log_level: must be DEBUG, INFO, WARNING or ERROR")
    if c.log_format not in ("text", "json"):
        raise ConfigError("log_format: must be text or json")
    if not c.inbound_contexts:
        raise ConfigError("inbound_contexts: name at least one dialplan context")
    if not c.languages or len({x.lower() for x in c.languages}) != len(c.languages):
        raise ConfigError("languages: name one or more languages, each once (e.g. en,ga)")
    _validate_standards(c)
    _validate_pbxes(c)
    _validate_oidc(c)
    _validate_alerts(c)


def _validate_pbxes(c: Config) -> None:
    names = [p.name for p in c.pbx]  # pbx_name alone names no ids: any name it had stays valid
    for p in c.pbx:
        if not valid_name(p.name):
            raise ConfigError(f"pbx: {p.name!r} is not a site name (lower-case letters, digits "
                              "and '-', at most 32)")
        if not 0 <= p.ami_port <= 65535:
            raise ConfigError(f"pbx {p.name}: ami_port must be a TCP port (0-65535)")
    if len(set(names)) != len(names):
        raise ConfigError(f"pbx: each site's name once (given: {', '.join(names)})")


def _validate_oidc(c: Config) -> None:
    if not c.oidc_issuer:
        return
    issuer = urlsplit(c.oidc_issuer)
    if not issuer.hostname or issuer.scheme not in ("https", "http") or (
            issuer.scheme == "http" and issuer.hostname not in LOOPBACK):
        raise ConfigError("oidc_issuer: must be an https URL (http only for localhost)")
    if not c.oidc_client_id or not c.oidc_name_claim:
        raise ConfigError("oidc_client_id and oidc_name_claim: needed with oidc_issuer")


def _validate_alerts(c: Config) -> None:
    if c.alert_webhook_url:
        url = urlsplit(c.alert_webhook_url)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ConfigError("alert_webhook_url: must be an http or https URL")
    if c.alert_email_to and not (c.alert_email_from and c.alert_smtp_smarthost):
        raise ConfigError("alert_email_to: needs alert_email_from and alert_smtp_smarthost")
    if c.alert_smtp_smarthost and not c.alert_smtp_smarthost.rpartition(":")[2].isdigit():
        raise ConfigError("alert_smtp_smarthost: give host:port, e.g. smtp.council.example:587")
    if c.alert_smtp_tls not in ("starttls", "none"):
        raise ConfigError("alert_smtp_tls: must be starttls or none")


def _validate_standards(c: Config) -> None:
    if not c.service_level_thresholds or min(c.service_level_thresholds) <= 0:
        raise ConfigError("service_level_thresholds: give one or more positive numbers of seconds")
    if len(c.service_level_targets) != len(c.service_level_thresholds):
        raise ConfigError("service_level_targets: give one target per service-level threshold")
    if any(not 0 <= t <= 1 for t in (*c.service_level_targets, c.abandon_rate_target,
                                     c.callback_kept_target)):
        raise ConfigError("targets are shares between 0 and 1 (0.8 = 80 %)")
    if any(t != int(t) for t in (*c.service_level_thresholds, c.short_abandon_seconds)):
        raise ConfigError("service_level_thresholds and short_abandon_seconds are whole seconds")
    if c.short_abandon_seconds < 0:
        raise ConfigError("short_abandon_seconds: must not be negative")
