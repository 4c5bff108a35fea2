"""Domain errors. They subclass builtins and carry no HTTP codes: web/errors.py maps them."""

from __future__ import annotations


class CallcentreError(Exception):
    """Base of every error the service raises on purpose."""


class InvalidInput(CallcentreError, ValueError):
    """A value from outside (API, config, dialplan) is not acceptable."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(CallcentreError, LookupError):
    """Something named by the caller does not exist."""

    kind = "resource"

    def __init__(self, key: object) -> None:
        super().__init__(f"no {self.kind} {key!r}")
        self.key = key


class NoSuchCall(NotFound):
    kind = "call"


class NoSuchCase(NotFound):
    kind = "case"


class Conflict(CallcentreError, RuntimeError):
    """The request is valid but clashes with the current state."""


class UnreadableRecord(Conflict):
    """A stored row holds a value no reader accepts (an old bug, a hand edit): reported and
    skipped in lists; asked for by itself, it is this error (409), never a crash."""


class CaseExists(Conflict):
    def __init__(self, ref: str) -> None:
        super().__init__(f"case {ref!r} already exists")
        self.ref = ref


class StorageError(CallcentreError, OSError):
    """The database could not do what was asked (raised from the adapter's own errors)."""


class ConfigError(CallcentreError, ValueError):
    """The configuration is invalid; the message says which setting and why."""


class NoSuchCallback(NotFound):
    kind = "callback"


class IllegalTransition(Conflict):
    """A callback cannot make this change from the state it is in (e.g. cancel a kept one)."""


class StaleCallback(Conflict):
    """The callback changed since it was read; read it again and retry."""


class DuplicateCallback(Conflict):
    """A callback for this source call already exists."""


class PbxUnavailable(CallcentreError, ConnectionError):
    """The PBX could not be asked (link down, no reply): nothing was done there."""


class PbxRefused(CallcentreError, RuntimeError):
    """The PBX answered and refused the request."""
