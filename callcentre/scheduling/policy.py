"""Loads the council's policy (scheduler/policy.toml) into domain objects.

This adapter owns the ``holidays`` library: the domain only sees a predicate
``is_closed_day(date) -> bool``.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Collection
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from callcentre.domain.hours import OpeningHours, opening_hours
from callcentre.errors import ConfigError, InvalidInput

log = logging.getLogger("callcentre.policy")


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
