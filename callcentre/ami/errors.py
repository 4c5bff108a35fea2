"""Typed AMI errors.

Each subclasses the builtin a caller would naturally catch (PermissionError,
ConnectionError, TimeoutError, RuntimeError) as well as AmiError, so code above the
AMI adapter can handle them without importing this module (STYLE.md, convention 9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callcentre.ami.protocol import Message

__all__ = [
    "AmiActionFailed",
    "AmiActionTimeout",
    "AmiAuthenticationError",
    "AmiError",
    "AmiNotConnected",
]


class AmiError(Exception):
    """Base class of every error raised by callcentre.ami."""


class AmiAuthenticationError(AmiError, PermissionError):
    """Asterisk refused the Login (wrong username or secret, or host not permitted)."""


class AmiNotConnected(AmiError, ConnectionError):
    """No logged-in AMI link: not yet connected, reconnecting, or closed."""


class AmiActionTimeout(AmiError, TimeoutError):
    """No complete reply to an action within its timeout."""

    def __init__(self, action: str, action_id: str, timeout: float) -> None:
        super().__init__(f"no reply to {action} (ActionID {action_id}) within {timeout:g}s")
        self.action = action
        self.action_id = action_id
        self.timeout = timeout


class AmiActionFailed(AmiError, RuntimeError):
    """Asterisk answered an action with ``Response: Error``; ``response`` is that frame."""

    def __init__(self, action: str, response: Message) -> None:
        reason = response.get("Message") or "no reason given"
        super().__init__(f"{action} failed: {reason}")
        self.action = action
        self.response = response
