"""Cases and agents' links between calls and cases."""

from __future__ import annotations

from callcentre.domain.calls import Call, CaseLink
from callcentre.domain.cases import Case, CaseStatus, check_ref, new_case
from callcentre.domain.numbers import require
from callcentre.ports import CallQuery, CallRepository, CaseRepository, Clock, Normaliser
from callcentre.services.calllog import CallLogService


class CaseService:
    def __init__(self, cases: CaseRepository, calls: CallRepository, calllog: CallLogService,
                 clock: Clock, normalise: Normaliser) -> None:
        self._cases = cases
        self._calls = calls
        self._calllog = calllog
        self._clock = clock
        self._normalise = normalise

    async def create(self, ref: str, subject: str, phone: str | None) -> Case:
        number = require(phone, self._normalise) if phone else None
        return await self._cases.add(new_case(ref, subject, number, self._clock.now()))

    async def get(self, ref: str) -> Case:
        return await self._cases.get(check_ref(ref))

    async def with_calls(self, ref: str, limit: int = 100) -> tuple[Case, list[Call]]:
        case = await self.get(ref)
        page = await self._calls.find(CallQuery(case_ref=case.ref, limit=limit))
        return case, page.items

    async def find(self, status: CaseStatus | None, phone: str | None, limit: int,
                   cursor: str | None) -> tuple[list[Case], str | None]:
        number = require(phone, self._normalise) if phone else None
        return await self._cases.find(status, number, limit, cursor)

    async def set_status(self, ref: str, status: CaseStatus) -> Case:
        return await self._cases.set_status(check_ref(ref), status, self._clock.now())

    async def link_call(self, call_id: int, ref: str | None) -> Call:
        """An agent links (or, with None, unlinks) a call; their link beats automatic ones."""
        await self._calls.get(call_id)  # NoSuchCall before anything else
        if ref is not None:
            ref = (await self.get(ref)).ref  # NoSuchCase
        stored = await self._calls.link_case(call_id, ref, CaseLink.AGENT if ref else None)
        self._calllog.tracker.enrich(stored)
        return stored
