"""Reads scheduler/policy.toml ``[callbacks]`` into a CallbackPolicy (domain value).

Every key has a default here, so a council's older policy file without ``[callbacks]``
still loads; a key with a wrong type or an unknown promise rule is a ConfigError naming
the key. Keys are documented in scheduler/policy.toml itself.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from callcentre.domain.callback_policy import CallbackPolicy, Source
from callcentre.domain.deadlines import parse_rule
from callcentre.domain.hours import OpeningHours, opening_hours
from callcentre.errors import ConfigError, InvalidInput
from callcentre.scheduling.policy import load_opening_hours

DEFAULT_PROMISE = {
    "agent": "within 4 working hours",
    "queue_keypress": "within 4 working hours",
    "abandoned": "end of next working day",
    "out_of_hours": "end of next working day",
}


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


def load_callback_policy(doc: dict[str, Any], where: str) -> CallbackPolicy:
    opening = load_opening_hours(doc, where)
    section = doc.get("callbacks", {})
    try:
        rules = {**DEFAULT_PROMISE, **section.get("promise", {})}
        unknown = set(rules) - {s.value for s in Source}
        if unknown:
            raise ConfigError(f"{where}: [callbacks.promise] unknown source(s) {sorted(unknown)}")
        abandon = _number(section, "abandoned_after_seconds", 30)
        return CallbackPolicy(
            opening=opening,
            calling=_calling(section, opening),
            promise={Source(k): parse_rule(str(v)) for k, v in rules.items()},
            latest=parse_rule(str(section.get("latest", "end of 10 working days"))),
            retry_spacing=_spacing(section),
            max_attempts=int(_number(section, "max_attempts", 3, low=1)),
            give_up_after=timedelta(hours=_number(section, "give_up_after_hours", 8)),
            owner_hold_back=timedelta(minutes=_number(section, "owner_hold_back_minutes", 60)),
            min_talk=timedelta(seconds=_number(section, "min_talk_seconds", 10)),
            require_confirmation=_flag(section, "require_confirmation", False),
            abandon_after=timedelta(seconds=abandon) if abandon > 0 else None,
            out_of_hours=_flag(section, "out_of_hours", True),
            cancel_on_call_in=_flag(section, "cancel_when_resident_calls", True),
            team_name=str(section.get("team_name", "Customer Services")),
            horizon=timedelta(minutes=_number(section, "horizon_minutes", 60, low=1)),
        )
    except InvalidInput as err:
        raise ConfigError(f"{where}: [callbacks] {err}") from err
