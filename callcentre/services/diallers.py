"""One callback dialler per PBX (site), and what the rest of the service asks of them all.

Each site's dialler (services/callback_dialler.py) dials that site's callbacks
(``Callback.site``) through its own PBX, to the agents that PBX reports, and runs on the
instance leading that PBX. ``Diallers`` is what the subscription table (app.py) and the
readers see: every event goes to the dialler of the PBX it came from, every callback
change to the dialler of its site; the live views read every site's agents and prompts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from callcentre.domain import callback_events as cev
from callcentre.domain.agents import Agent
from callcentre.domain.callbacks import Callback
from callcentre.domain.events import CallerHungUp
from callcentre.domain.resync import Resynced
from callcentre.domain.sites import prefix_in, prefix_of
from callcentre.ports import DueEntry
from callcentre.services.callback_dialler import CallbackDialler


class Boards:
    """Every site's agent board, read as one (wallboard, agent page, wait estimates)."""

    def __init__(self, diallers: Diallers) -> None:
        self._diallers = diallers

    def all(self) -> list[Agent]:
        return [a for d in self._diallers for a in d.board.all()]

    def available(self) -> list[Agent]:
        return [a for d in self._diallers for a in d.board.available()]


class Diallers:
    """The diallers of all sites, the main PBX's first."""

    def __init__(self, diallers: list[CallbackDialler]) -> None:
        self._by_prefix = {d.names.prefix: d for d in diallers}
        self.main = diallers[0]
        self.board = Boards(self)

    def __iter__(self) -> Iterator[CallbackDialler]:
        return iter(self._by_prefix.values())

    def of(self, cb: Callback) -> CallbackDialler | None:
        return self._by_prefix.get(prefix_of(cb.site))

    def at(self, prefix: str) -> CallbackDialler:
        """The dialler of the site whose ids carry ``prefix`` (Namespace.prefix)."""
        return self._by_prefix[prefix]

    # --- events (the subscription table) -------------------------------------------------
    def handle(self, event: cev.CallbackEvent) -> None:
        dialler = self._by_prefix.get(event.site)
        if dialler is not None:
            dialler.handle(event)

    def caller_hung_up(self, event: CallerHungUp) -> None:
        dialler = self._by_prefix.get(prefix_in(event.linkedid))
        if dialler is not None:
            dialler.caller_hung_up(event)

    def resynced(self, event: Resynced) -> None:
        dialler = self._by_prefix.get(event.site)
        if dialler is not None:
            dialler.resynced(event)

    # --- changes (the callback service, other instances) ---------------------------------
    def track(self, cb: Callback) -> None:
        dialler = self.of(cb)
        if dialler is not None:
            dialler.track(cb)

    async def rebuild(self) -> int:
        return sum([await d.rebuild() for d in self])

    # --- what they hold --------------------------------------------------------------------
    @property
    def ready(self) -> dict[int, DueEntry]:
        return {i: e for d in self for i, e in d.ready.items()}

    def not_placed(self) -> tuple[int, int, str | None]:
        """As CallbackDialler.not_placed, over every site: each refusing site's latest
        reason, named by site when there are several."""
        each = [(d.names.site, *d.not_placed()) for d in self]
        reasons = [r if len(each) == 1 else f"{site}: {r}" for site, _, _, r in each if r]
        return (sum(n for _, n, _, _ in each), sum(n for _, _, n, _ in each),
                "; ".join(reasons) or None)

    def set_offered(self, offered: Callable[[str], datetime | None]) -> None:
        for dialler in self:
            dialler.offered = offered

    def set_on_prompt(self, on_prompt: Callable[[], None]) -> None:
        for dialler in self:
            dialler.on_prompt = on_prompt
