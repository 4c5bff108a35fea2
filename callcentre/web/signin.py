"""Signing in with a browser: a person's token once, then an HttpOnly session cookie.

``GET /signin`` shows a form; ``POST /signin`` checks the token and starts a session (the
cookie is HttpOnly, SameSite=Strict, Secure over HTTPS, and names the session only: its
value is stored hashed, like a token); ``POST /signout`` ends it. Both forms carry a CSRF
secret: the sign-in form one from a short-lived cookie of its own (double submit), the
sign-out form the session's. A session lasts ``session_hours`` and never past its token.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from aiohttp import web

from callcentre.domain.people import Session, Token
from callcentre.web.auth import (
    CLOCK,
    REFUSED,
    SESSION,
    SESSION_COOKIE,
    TOKEN,
    TOKENS,
    hash_token,
    token_problem,
)
from callcentre.web.layout import esc, page

log = logging.getLogger("callcentre.web")
routes = web.RouteTableDef()
SESSION_HOURS: web.AppKey[float] = web.AppKey("session_hours")
_FORM_COOKIE = "cc_signin"


def _next(value: object) -> str:
    """Where to go after signing in: a path of this site only (never another site's)."""
    text = str(value or "/")
    return text if text.startswith("/") and not text.startswith(("//", "/\\")) else "/"


def _form(next_path: str, csrf: str, problem: str = "") -> str:
    said = f'<p role="alert" class="missed">{esc(problem)}</p>' if problem else ""
    return page("Sign in - callcentre", f"""<h1>Sign in</h1>{said}
<form method="post" action="/signin">
<input type="hidden" name="csrf" value="{esc(csrf)}">
<input type="hidden" name="next" value="{esc(next_path)}">
<p><label>Your token <input name="token" type="password" autocomplete="off" required
size="50"></label></p><p><button>Sign in</button></p></form>
<p>No token? Ask an admin (<code>callcentre token create</code>).</p>""")


def _cookie(response: web.StreamResponse, request: web.Request, name: str, value: str,
            max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="Strict", secure=request.secure)


@routes.get("/signin")
async def signin_form(request: web.Request) -> web.Response:
    csrf = secrets.token_urlsafe(16)
    response = web.Response(text=_form(_next(request.query.get("next")), csrf),
                            content_type="text/html", headers={"Cache-Control": "no-store"})
    _cookie(response, request, _FORM_COOKIE, csrf, 600)
    return response


@routes.post("/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    next_path, csrf = _next(form.get("next")), str(form.get("csrf", ""))
    if not csrf or not secrets.compare_digest(csrf, request.cookies.get(_FORM_COOKIE, "")):
        return _again(request, next_path, "The form was too old or not ours: try again.", 403)
    token = await request.app[TOKENS].find(hash_token(str(form.get("token", "")).strip()))
    now = request.app[CLOCK]()
    problem = token_problem(token, now)
    if token is None or problem:
        await request.app[REFUSED].refused(request.remote or "unknown address",
                                           problem or "unknown")
        return _again(request, next_path, f"That token is {problem or 'unknown'}.", 401)
    request[TOKEN] = token  # the audit trail records the sign-in
    value = secrets.token_urlsafe(32)
    session = Session(token, secrets.token_urlsafe(16), now, _ends(request, token, now))
    await request.app[TOKENS].start_session(hash_token(value), session)
    log.info("%s (%s) signed in from %s", token.name, token.role, request.remote)
    response = web.HTTPSeeOther(next_path)
    _cookie(response, request, SESSION_COOKIE, value,
            int((session.expires_at - now).total_seconds()))
    response.del_cookie(_FORM_COOKIE, path="/")
    raise response


def _ends(request: web.Request, token: Token, now: datetime) -> datetime:
    ends = now + timedelta(hours=request.app[SESSION_HOURS])
    return min(ends, token.expires_at) if token.expires_at else ends


def _again(request: web.Request, next_path: str, problem: str, status: int) -> web.Response:
    csrf = secrets.token_urlsafe(16)
    response = web.Response(text=_form(next_path, csrf, problem), status=status,
                            content_type="text/html", headers={"Cache-Control": "no-store"})
    _cookie(response, request, _FORM_COOKIE, csrf, 600)
    return response


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    """Ends the session the cookie names (its CSRF secret checked by web/auth.py)."""
    session = request.get(SESSION)
    cookie = request.cookies.get(SESSION_COOKIE)
    if session is not None and cookie:
        await request.app[TOKENS].end_session(hash_token(cookie), request.app[CLOCK]())
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
