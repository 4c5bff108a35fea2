"""Signing in with a browser: a person's token once, or their council account (OpenID
Connect, web/oidc.py), then an HttpOnly session cookie.

``GET /signin`` shows a form; ``POST /signin`` checks the token and starts a session (the
cookie is HttpOnly, SameSite=Strict, Secure over HTTPS, and names the session only: its
value is stored hashed, like a token); ``POST /signout`` ends it. Both forms carry a CSRF
secret: the sign-in form one from a short-lived cookie of its own (double submit), the
sign-out form the session's. A session lasts ``session_hours`` and never past its token.
``GET /signin/oidc`` and its callback sign in through the identity provider, when one is set.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web

from callcentre.config import Config
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
from callcentre.web.oidc import (
    Attempt,
    OidcClient,
    OidcSettings,
    ProviderUnavailable,
    SignInRefused,
)

log = logging.getLogger("callcentre.web")
routes = web.RouteTableDef()
_FORM_COOKIE = "cc_signin"
_OIDC_COOKIE = "cc_oidc"  # the sign-in in flight (web/oidc.py's Attempt), for 10 minutes


@dataclass(frozen=True, slots=True)
class SigninDeps:
    session_hours: float = 12.0
    oidc: OidcClient | None = None  # signing in with a council account, when set


SIGNIN: web.AppKey[SigninDeps] = web.AppKey("signin", SigninDeps)


def signin_deps(c: Config, clock: Callable[[], datetime]) -> SigninDeps:
    """Signing in as the settings say: with a council account too when ``oidc_issuer`` is set."""
    oidc = None if not c.oidc_issuer else OidcClient(OidcSettings(
        c.oidc_issuer, c.oidc_client_id, c.oidc_client_secret, c.oidc_name_claim,
        c.oidc_label, c.oidc_redirect_uri), clock)
    return SigninDeps(c.session_hours, oidc)


async def close(app: web.Application) -> None:
    oidc = app[SIGNIN].oidc
    if oidc is not None:
        await oidc.close()


def _next(value: object) -> str:
    """Where to go after signing in: a path of this site only (never another site's)."""
    text = str(value or "/")
    return text if text.startswith("/") and not text.startswith(("//", "/\\")) else "/"


def _form(request: web.Request, next_path: str, csrf: str, problem: str = "") -> str:
    said = f'<p role="alert" class="missed">{esc(problem)}</p>' if problem else ""
    oidc = request.app[SIGNIN].oidc
    account = "" if oidc is None else (
        f'<p><a class="button" href="/signin/oidc?{esc(urlencode({"next": next_path}))}">'
        f"Sign in with {esc(oidc.settings.label)}</a></p><p>Or with a token:</p>")
    return page("Sign in - callcentre", f"""<h1>Sign in</h1>{said}{account}
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
    response = web.Response(text=_form(request, _next(request.query.get("next")), csrf),
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
    response = web.HTTPSeeOther(next_path)
    await _open_session(request, token, response, "a token")
    response.del_cookie(_FORM_COOKIE, path="/")
    raise response


async def _open_session(request: web.Request, token: Token, response: web.StreamResponse,
                        how: str) -> None:
    """Starts a session of ``token`` (``session_hours``, never past the token's expiry) and
    gives ``response`` its cookie."""
    request[TOKEN] = token  # the audit trail records the sign-in
    now = request.app[CLOCK]()
    ends = now + timedelta(hours=request.app[SIGNIN].session_hours)
    ends = min(ends, token.expires_at) if token.expires_at else ends
    value = secrets.token_urlsafe(32)
    session = Session(token, secrets.token_urlsafe(16), now, ends)
    await request.app[TOKENS].start_session(hash_token(value), session)
    log.info("%s (%s) signed in with %s from %s", token.name, token.role, how, request.remote)
    _cookie(response, request, SESSION_COOKIE, value, int((ends - now).total_seconds()))


def _again(request: web.Request, next_path: str, problem: str, status: int) -> web.Response:
    csrf = secrets.token_urlsafe(16)
    response = web.Response(text=_form(request, next_path, csrf, problem), status=status,
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


@routes.get("/signin/oidc")
async def signin_oidc(request: web.Request) -> web.StreamResponse:
    """Off to the identity provider, with this sign-in's state, nonce and PKCE verifier kept
    in a cookie (SameSite=Lax: the provider sends the browser back with a cross-site GET)."""
    oidc = _oidc(request)
    attempt = Attempt.new(_next(request.query.get("next")))
    try:
        url = await oidc.authorization_url(attempt, _redirect_uri(request, oidc))
    except ProviderUnavailable as err:
        return _unavailable(request, attempt.next_path, err)
    response = web.HTTPSeeOther(url)
    response.set_cookie(_OIDC_COOKIE, attempt.cookie(), max_age=600, path="/signin/oidc",
                        httponly=True, samesite="Lax", secure=request.secure)
    raise response


@routes.get("/signin/oidc/callback")
async def signin_oidc_back(request: web.Request) -> web.StreamResponse:
    """Back from the provider: the state must be this browser's; the code is exchanged, the
    ID token checked and the person found; then a session starts as for a token. Whatever
    the outcome, the sign-in in flight is over (its cookie is removed)."""
    response = await _back(request, _oidc(request))
    response.del_cookie(_OIDC_COOKIE, path="/signin/oidc")
    return response


async def _back(request: web.Request, oidc: OidcClient) -> web.StreamResponse:
    attempt = Attempt.from_cookie(request.cookies.get(_OIDC_COOKIE, ""))
    state, code = request.query.get("state", ""), request.query.get("code", "")
    ours = attempt is not None and secrets.compare_digest(state.encode(), attempt.state.encode())
    if not code:  # the provider did not sign them in: say why (its words only if ours)
        error = request.query.get("error", "")
        said = (request.query.get("error_description", "") if ours else "") or (
            error if error.replace("_", "").isalpha() and len(error) < 40 else "no code")
        return await _refused(request, attempt.next_path if attempt else "/",
                              f"{oidc.settings.label} did not sign you in ({said})",
                              "council account")
    if attempt is None or not ours:
        return await _refused(request, "/", "that sign-in was not started here, or took "
                              "more than 10 minutes: try again", "council account")
    try:
        claims = await oidc.claims(code, attempt, _redirect_uri(request, oidc))
    except ProviderUnavailable as err:
        return _unavailable(request, attempt.next_path, err)
    except SignInRefused as err:
        return await _refused(request, attempt.next_path, str(err), "council account")
    return await _signed_in(request, oidc, claims, attempt.next_path)


async def _signed_in(request: web.Request, oidc: OidcClient, claims: dict[str, object],
                     next_path: str) -> web.StreamResponse:
    name = str(claims.get(oidc.settings.name_claim) or "")
    person = await request.app[TOKENS].person(name) if name else None
    if person is None:
        return await _refused(request, next_path, f"{name or 'that account'} may not use "
                              "callcentre yet: ask an admin to add you", "council account",
                              status=403)
    now = request.app[CLOCK]()
    ends = now + timedelta(hours=request.app[SIGNIN].session_hours)
    token = await request.app[TOKENS].add(
        hash_token(secrets.token_urlsafe(32)),  # never shown: it lives in the session only
        Token(person.name, person.role, now, ends, interface=person.interface, via="oidc"))
    # a page of ours, not a redirect: the browser then sends the SameSite=Strict cookie
    # when it follows on, as it would not on a redirect from the provider's site
    response = web.Response(text=page("Signed in - callcentre", f"""<h1>Signed in</h1>
<p>Welcome, {esc(person.name)}. <a href="{esc(next_path)}">Continue</a></p>""",
        f'<meta http-equiv="refresh" content="0;url={esc(next_path)}">'),
        content_type="text/html", headers={"Cache-Control": "no-store"})
    await _open_session(request, token, response, oidc.settings.label)
    return response


def _oidc(request: web.Request) -> OidcClient:
    oidc = request.app[SIGNIN].oidc
    if oidc is None:
        raise web.HTTPNotFound(text="signing in with a council account is not set up here "
                               "(oidc_issuer)")
    return oidc


def _redirect_uri(request: web.Request, oidc: OidcClient) -> str:
    return (oidc.settings.redirect_uri
            or f"{request.scheme}://{request.host}/signin/oidc/callback")


async def _refused(request: web.Request, next_path: str, problem: str, why: str,
                   status: int = 401) -> web.Response:
    await request.app[REFUSED].refused(request.remote or "unknown address",
                                       f"{why}: {problem}")
    return _again(request, next_path, f"Not signed in: {problem}.", status)


def _unavailable(request: web.Request, next_path: str, err: Exception) -> web.Response:
    log.warning("the identity provider could not be used: %s", err)
    return _again(request, next_path, "The council's sign-in service did not answer as it "
                  "should; try again soon, or sign in with a token.", 502)
