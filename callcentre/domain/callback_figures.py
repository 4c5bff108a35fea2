"""Callback figures for reports and metrics: counts the database gives, in one shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from callcentre.domain.survey import SurveyTally


@dataclass(frozen=True)
class CallbackCounts:
    """Live counts, for /metrics and the wallboard."""

    promised: Mapping[str, int] = field(default_factory=dict)  # by source, all time
    closed: Mapping[str, int] = field(default_factory=dict)  # by first result, all time
    corrected: Mapping[tuple[str, ...], int] = field(default_factory=dict)  # (old, new): n
    extended: int = 0
    open_by_state: Mapping[str, int] = field(default_factory=dict)
    at_risk: int = 0
    overdue: int = 0
    due_next_hour: int = 0


@dataclass(frozen=True)
class CallbackPeriod:
    """Callbacks in a reporting period.

    ``promised``: made in the period. The results are those of the callbacks whose
    deadline fell in the period (a promise is judged by its deadline).
    """

    promised: int = 0
    due: int = 0
    kept: int = 0
    late: int = 0
    missed: int = 0
    cancelled: int = 0
    still_open: int = 0
    extended: int = 0
    missed_first_in_time: int = 0
    survey: SurveyTally = field(default_factory=SurveyTally)  # the survey after them (#15)

    @property
    def kept_ratio(self) -> float | None:
        """kept / (kept + late + missed): the definition the API, metrics and reports share."""
        judged = self.kept + self.late + self.missed
        return None if judged == 0 else self.kept / judged
