"""The Pbx port over AMI: Originate an agent-first callback, Setvar, and what a stuck-leg
check needs (after a reconnect the dialler is given the shared resync's answers instead).

Context and variables are those of dialplans/extensions_callcentre.conf
(``callcentre-callback``; see dialplans/README.md "Callbacks"): change them together.
AMI errors become PbxUnavailable/PbxRefused here, so services never see AMI types.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence

from callcentre.ami.client import ActionResult
from callcentre.ami.errors import AmiActionFailed, AmiError
from callcentre.ami.resync import channel_ids
from callcentre.ami.translate import queue_members
from callcentre.domain.callback_events import MemberChanged
from callcentre.errors import PbxRefused, PbxUnavailable
from callcentre.ports import OriginateRequest

CALLBACK_CONTEXT = "callcentre-callback"
RESULT_FAMILY = "callcentre-callback"  # AstDB family the h extension writes results to
SendAction = Callable[..., Awaitable[ActionResult]]
_DIALLABLE = re.compile(r"\+?[0-9]{3,20}")


def originate_fields(req: OriginateRequest) -> dict[str, str | Sequence[str]]:
    if not _DIALLABLE.fullmatch(req.phone):
        raise PbxRefused(f"not a diallable number for callback {req.callback_id}")
    variables = [f"CALLBACK_ID={req.callback_id}",
                 f"CALLBACK_DUE={req.due_by.isoformat()}",
                 f"CALLBACK_DUE_EPOCH={int(req.due_by.timestamp())}",
                 f"CALLBACK_CHECK={req.check.value}"]
    if req.case_ref:
        variables.insert(0, f"__CASE_REF={req.case_ref}")
    if req.language:  # the dialplan sets it as the resident's leg's CHANNEL(language)
        variables.append(f"CALLBACK_LANGUAGE={req.language}")
    return {
        "Channel": req.agent, "Context": CALLBACK_CONTEXT, "Exten": req.phone, "Priority": "1",
        "CallerID": req.caller_id, "Timeout": str(req.agent_ring_seconds * 1000),
        "Async": "true", "ChannelId": req.channel_id, "Variable": variables,
    }


class AmiPbx:
    def __init__(self, send_action: SendAction) -> None:
        self._send = send_action

    async def _call(self, action: str, fields: Mapping[str, str | Sequence[str]] | None = None,
                    ) -> ActionResult:
        try:
            return await self._send(action, fields)
        except AmiActionFailed as err:
            raise PbxRefused(f"{action} refused: {err.response.get('Message')}") from err
        except AmiError as err:
            raise PbxUnavailable(f"{action}: {err}") from err

    async def originate(self, request: OriginateRequest) -> str:
        result = await self._call("Originate", originate_fields(request))
        return result.response.action_id or ""

    async def set_variable(self, channel: str, name: str, value: str) -> None:
        await self._call("Setvar", {"Channel": channel, "Variable": name, "Value": value})

    async def live_channels(self) -> set[str]:
        return channel_ids((await self._call("CoreShowChannels")).events)

    async def stored_result(self, channel_id: str) -> tuple[str, float] | None:
        try:
            result = await self._call("DBGet", {"Family": RESULT_FAMILY, "Key": channel_id})
        except PbxRefused:
            return None  # "Database entry not found"
        for m in result.events:
            status, _, seconds = (m.get("Val") or "").partition(":")
            if status:
                return status, float(seconds or 0)
        return None

    async def queue_members(self) -> list[MemberChanged]:
        return queue_members((await self._call("QueueStatus")).events)
