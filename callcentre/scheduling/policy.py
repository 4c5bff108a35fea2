"""Loads the council's policy (scheduler/policy.toml) into domain objects: the one loader.

``load_policy(path)`` reads the file once and gives the opening hours, the callback
policy (``[callbacks]``) and how long residents' personal data is kept (``[retention]``).
This adapter owns the ``holidays`` library: the domain only sees a predicate
``is_closed_day(date) -> bool``. Every ``[callbacks]`` and ``[retention]`` key has a default
here, so a council's older policy file without them still loads; a key with a wrong type,
an unknown promise rule or a bad period is a ConfigError naming the key. Keys are documented in
scheduler/policy.toml itself.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from callcentre.domain.callback_policy import AnswerCheck, CallbackPolicy, Source
from callcentre.domain.deadlines import PromiseRule, parse_rule
from callcentre.domain.hours import OpeningHours, opening_hours
from callcentre.domain.retention import DEFAULT_PERIODS, Kind, RetentionPolicy, parse_period
from callcentre.errors import ConfigError, InvalidInput

log = logging.getLogger("callcentre.policy")


@dataclass(frozen=True)
class Policy:
    hours: OpeningHours
    callbacks: CallbackPolicy
    retention: RetentionPolicy


def load_policy(path: str | Path) -> Policy:
    """The whole policy file (the packaged default if ``path`` is missing). Raises ConfigError."""
    doc, where = read_policy(path)
    return Policy(load_opening_hours(doc, where), load_callback_policy(doc, where),
                  load_retention_policy(doc, where))


def read_policy(path: str | Path) -> tuple[dict[str, Any], str]:
    """The policy document and where it came from (the packaged default if ``path`` is missing)."""
    file = Path(path)
    try:
        if file.is_file():
            return tomllib.loads(file.read_text(encoding="utf-8")), str(file)
        text = resources.files("callcentre.scheduling").joinpath("default_policy.toml").read_text(
            encoding="utf-8")
        log.info("policy file %s not found; using the packaged default policy", file)
        return tomllib.loads(text), "packaged default policy"
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read policy file {file}: {err}") from err


def closed_days(section: dict[str, Any]) -> Callable[[date], bool]:
    """Public holidays of the configured country/subdivision plus local closure days.
    ``country = ""`` keeps no public holidays (only the closure days)."""
    try:
        country = section.get("country", "GB")
        public: Collection[date] = (holidays.country_holidays(
            country, subdiv=section.get("subdivision")) if country else frozenset())
        closures = frozenset(date.fromisoformat(d) for d in section.get("closures", []))
    except (NotImplementedError, KeyError, ValueError) as err:
        raise ConfigError(f"policy [holidays]: {err}") from err

    def is_closed(day: date) -> bool:
        return day in closures or day in public

    return is_closed


def load_opening_hours(doc: dict[str, Any], where: str) -> OpeningHours:
    try:
        tz = ZoneInfo(doc.get("timezone", "Europe/London"))
        return opening_hours(tz, doc.get("opening_hours", {}), closed_days(doc.get("holidays", {})))
    except (ZoneInfoNotFoundError, InvalidInput) as err:
        raise ConfigError(f"{where}: {err}") from err


# --- [callbacks] -------------------------------------------------------------------------
DEFAULT_PROMISE = {
    "agent": "within 4 working hours",
    "queue_keypress": "within 4 working hours",
    "abandoned": "end of next working day",
    "out_of_hours": "end of next working day",
}


DEFAULT_FLOOR = {  # sized deadlines: never sooner than this ...
    "agent": "within 1 working hour",
    "queue_keypress": "within 1 working hour",
    "abandoned": "within 2 working hours",
    "out_of_hours": "within 2 working hours",
}
DEFAULT_CEILING = {  # ... and never later than this
    "agent": "end of next working day",
    "queue_keypress": "end of next working day",
    "abandoned": "end of 2 working days",
    "out_of_hours": "end of 2 working days",
}


def _rules(section: dict[str, Any], key: str, default: dict[str, str],
           where: str) -> dict[Source, PromiseRule]:
    """A promise rule per source from ``[callbacks.<key>]`` over ``default``."""
    table = section.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [callbacks.{key}] must be a table of source = rule")
    rules = {**default, **table}
    unknown = set(rules) - {s.value for s in Source}
    if unknown:
        raise ConfigError(f"{where}: [callbacks.{key}] unknown source(s) {sorted(unknown)}")
    return {Source(k): parse_rule(str(v)) for k, v in rules.items()}


def _confidence(section: dict[str, Any]) -> float:
    value = _number(section, "promise_confidence", 0.9)
    if value >= 1:
        raise ConfigError("policy [callbacks] promise_confidence: a share below 1 (0.9 = 90 %); "
                          "0: always the fixed promise")
    return value


def _number(section: dict[str, Any], key: str, default: float, low: float = 0) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise ConfigError(f"policy [callbacks] {key}: must be a number >= {low:g}")
    return float(value)


def _flag(section: dict[str, Any], key: str, default: bool) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"policy [callbacks] {key}: must be true or false")
    return value


def _calling(section: dict[str, Any], opening: OpeningHours) -> OpeningHours:
    by_day = section.get("calling_hours")
    if by_day is None:
        return opening
    return opening_hours(opening.tz, by_day, opening.is_closed_day)


def _spacing(section: dict[str, Any]) -> tuple[timedelta, ...]:
    minutes = section.get("retry_minutes", [30, 120])
    if not isinstance(minutes, list) or not minutes or not all(
            isinstance(m, int | float) and not isinstance(m, bool) and m > 0 for m in minutes):
        raise ConfigError("policy [callbacks] retry_minutes: a list of minutes, each > 0")
    return tuple(timedelta(minutes=m) for m in minutes)


def _refused_retry(section: dict[str, Any]) -> tuple[timedelta, timedelta]:
    seconds = section.get("refused_retry_seconds", [10, 600])
    if not (isinstance(seconds, list) and len(seconds) == 2 and all(
            isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in seconds)
            and seconds[0] <= seconds[1]):
        raise ConfigError("policy [callbacks] refused_retry_seconds: [first, longest] wait in "
                          "seconds, 0 < first <= longest")
    return timedelta(seconds=seconds[0]), timedelta(seconds=seconds[1])


def _answer_check(section: dict[str, Any]) -> AnswerCheck:
    """require_confirmation (default true) wins; without it, answering_machine_detection
    (default true) asks Asterisk's AMD; both off leaves talk time alone to judge."""
    if _flag(section, "require_confirmation", True):
        return AnswerCheck.CONFIRM
    if _flag(section, "answering_machine_detection", True):
        return AnswerCheck.MACHINE_DETECTION
    return AnswerCheck.NONE


def load_callback_policy(doc: dict[str, Any], where: str) -> CallbackPolicy:
    opening = load_opening_hours(doc, where)
    section = doc.get("callbacks", {})
    try:
        abandon = _number(section, "abandoned_after_seconds", 30)
        return CallbackPolicy(
            opening=opening,
            calling=_calling(section, opening),
            promise=_rules(section, "promise", DEFAULT_PROMISE, where),
            latest=parse_rule(str(section.get("latest", "end of 10 working days"))),
            retry_spacing=_spacing(section),
            max_attempts=int(_number(section, "max_attempts", 3, low=1)),
            give_up_after=timedelta(hours=_number(section, "give_up_after_hours", 8)),
            owner_hold_back=timedelta(minutes=_number(section, "owner_hold_back_minutes", 60)),
            min_talk=timedelta(seconds=_number(section, "min_talk_seconds", 10)),
            check=_answer_check(section),
            abandon_after=timedelta(seconds=abandon) if abandon > 0 else None,
            out_of_hours=_flag(section, "out_of_hours", True),
            cancel_on_call_in=_flag(section, "cancel_when_resident_calls", True),
            team_name=str(section.get("team_name", "Customer Services")),
            horizon=timedelta(minutes=_number(section, "horizon_minutes", 60, low=1)),
            refused_retry=_refused_retry(section),
            refused_counts=_flag(section, "refused_counts_as_attempt", False),
            floor=_rules(section, "floor", DEFAULT_FLOOR, where),
            ceiling=_rules(section, "ceiling", DEFAULT_CEILING, where),
            confidence=_confidence(section),
        )
    except InvalidInput as err:
        raise ConfigError(f"{where}: [callbacks] {err}") from err


# --- [retention] -------------------------------------------------------------------------
def load_retention_policy(doc: dict[str, Any], where: str) -> RetentionPolicy:
    """A period per kind of record ("13 months", "400 days"); a missing key keeps its default."""
    section = doc.get("retention", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: [retention] must be a table")
    unknown = set(section) - {k.value for k in Kind}
    if unknown:
        raise ConfigError(f"{where}: [retention] unknown kind(s) {sorted(unknown)}; "
                          f"known: {', '.join(k.value for k in Kind)}")
    periods = dict(DEFAULT_PERIODS)
    for key, value in section.items():
        try:
            periods[Kind(key)] = parse_period(value if isinstance(value, str) else repr(value))
        except InvalidInput as err:
            raise ConfigError(f"{where}: [retention] {key}: {err}") from err
    return RetentionPolicy(periods)
