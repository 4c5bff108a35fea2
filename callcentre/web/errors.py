"""The one place where errors become HTTP responses: {"error", "message", "details"}."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from callcentre.errors import Conflict, InvalidInput, NotFound, StorageError

log = logging.getLogger("callcentre.web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, error: str, message: str,
                   details: dict[str, Any] | None = None) -> web.Response:
    body = {"error": error, "message": message, "details": details or {}}
    return web.json_response(body, status=status)


def _from_domain(err: Exception) -> web.Response | None:
    if isinstance(err, InvalidInput):
        details = {"field": err.field} if err.field else {}
        return error_response(422, "invalid_input", err.message, details)
    if isinstance(err, NotFound):
        return error_response(404, "not_found", str(err))
    if isinstance(err, Conflict):
        return error_response(409, "conflict", str(err))
    if isinstance(err, StorageError):
        log.error("storage failure: %s", err)
        return error_response(503, "storage_unavailable", "the database is not available")
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        response = error_response(exc.status, exc.reason.lower().replace(" ", "_"),
                                  exc.text or exc.reason)
        for name in ("Allow", "Retry-After"):  # 405 must say what is allowed (RFC 9110)
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except json.JSONDecodeError as err:
        return error_response(400, "bad_json", f"request body is not valid JSON: {err.msg}")
    except Exception as err:
        mapped = _from_domain(err)
        if mapped is not None:
            return mapped
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; it has been logged")
