"""Agents' wrap-up codes: what the call was about and whether it was settled (#15)."""

from __future__ import annotations

from collections.abc import Sequence

from callcentre.domain.calls import Call
from callcentre.domain.survey import check_wrapup_code
from callcentre.errors import InvalidInput
from callcentre.ports import CallRepository
from callcentre.services.calllog import CallLogService


class WrapupService:
    """``codes``: the wrapup_codes setting, in the order agents are offered them."""

    def __init__(self, calls: CallRepository, calllog: CallLogService,
                 codes: Sequence[str]) -> None:
        self._calls = calls
        self._calllog = calllog
        self.codes = tuple(codes)

    async def set_code(self, call_id: int, code: object) -> Call:
        """Set the call's code (None clears it); InvalidInput naming the allowed codes,
        NoSuchCall. A call still in progress keeps it when the call log saves it later."""
        if code is not None:
            try:
                code = check_wrapup_code(code, self.codes)
            except ValueError as err:
                raise InvalidInput(str(err), field="code") from err
        stored = await self._calls.set_wrapup(call_id, code)
        self._calllog.tracker.enrich(stored)
        return stored
