"""Who a browser is: sessions, anti-forgery tokens, and logging in and out.

People log in through the organisation's identity provider (OpenID Connect authorization
code flow with PKCE, by authlib; the ID token verified by the server's PyJWT verifier) or,
where no provider is configured, by pasting a registry token. Either way the session
stands for the principal proven then; every form carries the session's anti-forgery token
and every POST from another origin is refused.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from registry_pipeline.core.errors import Refused, Step, Unauthenticated
from registry_pipeline.core.identity import Principal
from registry_pipeline.server.deps import ServerState, state
from registry_pipeline.server.web.render import page
from registry_pipeline.service import sessions
from registry_pipeline.service import tokens as token_use_cases

SESSION_COOKIE = "registry_session"
LOGIN_COOKIE = "registry_login"
PRE_LOGIN_COOKIE = "registry_prelogin"
MAX_FORM_FIELD = 4096

router = APIRouter(include_in_schema=False)


class LoginNeeded(Exception):
    """The page needs a logged-in person; answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def safe_next(path: str | None) -> str:
    """Where to go after logging in: a path on this server, never another site."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return "/"
    return path[:1024]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, **kw: object) -> None:
    """An HttpOnly, SameSite=Lax cookie (Secure over https)."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path=str(kw.get("path", "/")),
        max_age=int(str(kw["max_age"])) if "max_age" in kw else None,
    )


def viewer(request: Request) -> Principal | None:
    """The logged-in principal of this request, ``None`` when there is none; also sets the
    page's anti-forgery token."""
    if hasattr(request.state, "viewer"):
        found: Principal | None = request.state.viewer
        return found
    secret = request.cookies.get(SESSION_COOKIE)
    who = sessions.principal_of(state(request).store(), secret)
    request.state.viewer = who
    request.state.csrf = sessions.csrf_token(secret) if who and secret else ""
    return who


def person(request: Request) -> Principal:
    """The logged-in principal; a page without one sends the browser to log in."""
    who = viewer(request)
    if who is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginNeeded(path)
    state(request).limiter.check(who.name)
    return who


def same_origin(request: Request) -> None:
    """Refuse a POST a page of another origin made (``Origin`` or ``Referer`` naming
    another host)."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if sent is None:
        return
    parts = urlsplit(sent)  # an opaque origin ("null") has no scheme and fails too
    if f"{parts.scheme}://{parts.netloc}" != f"{request.url.scheme}://{request.url.netloc}":
        raise Refused("this form was sent from another origin", step=Step.LOG_IN)


def checked(request: Request, csrf: str | None) -> Principal:
    """The principal of a POSTed form: logged in, same origin, with the session's token."""
    same_origin(request)
    who = viewer(request)
    secret = request.cookies.get(SESSION_COOKIE)
    if who is None or secret is None:
        raise Refused("log in again: this form's session has ended", step=Step.LOG_IN)
    if not sessions.csrf_matches(secret, csrf):
        raise Refused(
            "this form lacks its anti-forgery token; reload the page and send it again",
            step=Step.LOG_IN,
        )
    state(request).limiter.check(who.name)
    return who


Person = Annotated[Principal, Depends(person)]
Csrf = Annotated[str | None, Form(max_length=256)]


def _oidc_client(shared: ServerState, request: Request) -> OAuth2Client:
    verifier = shared.verifier
    if verifier is None or not verifier.config.client_id:
        raise Refused("no identity provider is configured; paste a token", step=Step.LOG_IN)
    return OAuth2Client(
        client_id=verifier.config.client_id,
        client_secret=verifier.config.client_secret,
        scope="openid email profile",
        redirect_uri=str(request.url_for("login_callback")),
        code_challenge_method="S256",
        token_endpoint_auth_method=(
            "client_secret_basic" if verifier.config.client_secret else "none"
        ),
        timeout=10.0,
    )


def oidc_login_offered(shared: ServerState) -> bool:
    """Whether the identity provider's login is offered (a client id is configured)."""
    return shared.verifier is not None and bool(shared.verifier.config.client_id)


@router.get("/login", name="login")
def login_page(request: Request, next: str | None = None) -> Response:
    """Log in: through the identity provider, or by pasting a registry token."""
    shared = state(request)
    if viewer(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    pre = secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        {
            "next": safe_next(next),
            "oidc": oidc_login_offered(shared),
            "token_login": not oidc_login_offered(shared),
            "pre": pre,
            "error": None,
        },
    )
    set_cookie(response, request, PRE_LOGIN_COOKIE, pre, path="/login", max_age=1800)
    return response


@router.post("/login/token")
def token_login(
    request: Request,
    token: Annotated[str, Form(max_length=MAX_FORM_FIELD)],
    pre: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=1024)] = "/",
) -> Response:
    """Exchange a pasted registry token for a session (where no identity provider is set)."""
    shared = state(request)
    same_origin(request)
    if oidc_login_offered(shared):
        raise Refused("log in through the identity provider", step=Step.LOG_IN)
    cookie = request.cookies.get(PRE_LOGIN_COOKIE)
    if not cookie or not secrets.compare_digest(cookie, pre):
        raise Refused("reload the login page and try again", step=Step.LOG_IN)
    try:
        who = token_use_cases.authenticate(shared.store(), token.strip())
    except Unauthenticated as e:
        response = page(
            request,
            "login.html",
            {
                "next": safe_next(next),
                "oidc": False,
                "token_login": True,
                "pre": pre,
                "error": f"That token was refused: {e}.",
            },
            status_code=401,
        )
        return response
    shared.limiter.check(who.name)
    return _logged_in(request, shared, who, safe_next(next))


def _logged_in(request: Request, shared: ServerState, who: Principal, to: str) -> Response:
    secret = sessions.start(shared.store(), who)
    response = RedirectResponse(to, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, secret)
    response.delete_cookie(PRE_LOGIN_COOKIE, path="/login")
    return response


@router.get("/login/oidc")
def oidc_login(request: Request, next: str | None = None) -> Response:
    """Send the browser to the identity provider (authorization code, PKCE S256, nonce)."""
    shared = state(request)
    if not oidc_login_offered(shared):
        raise Refused("no identity provider is configured; paste a token", step=Step.LOG_IN)
    assert shared.verifier is not None
    client = _oidc_client(shared, request)
    verifier, nonce = generate_token(48), generate_token(24)
    url, sent_state = client.create_authorization_url(
        shared.verifier.endpoint("authorization_endpoint"),
        code_verifier=verifier,
        nonce=nonce,
    )
    secret = sessions.begin_login(
        shared.store(),
        {"state": sent_state, "verifier": verifier, "nonce": nonce, "next": safe_next(next)},
    )
    response = RedirectResponse(url, status_code=303)
    set_cookie(response, request, LOGIN_COOKIE, secret, path="/login", max_age=600)
    return response


@router.get("/login/callback", name="login_callback")
def login_callback(request: Request, code: str | None = None) -> Response:
    """The identity provider's answer: check the state, exchange the code with the PKCE
    verifier, verify the ID token (issuer, audience, nonce, expiry), start the session."""
    shared = state(request)
    if not oidc_login_offered(shared):
        raise Refused("no identity provider is configured", step=Step.LOG_IN)
    assert shared.verifier is not None
    pending = sessions.take_login(shared.store(), request.cookies.get(LOGIN_COOKIE))
    answered = request.query_params.get("state")
    if (
        pending is None
        or not answered
        or not secrets.compare_digest(str(pending["state"]), answered)
    ):
        raise Unauthenticated("this login expired or was not started here; log in again")
    error = request.query_params.get("error")
    if error or not code:
        raise Unauthenticated(f"the identity provider refused the login ({str(error)[:64]})")
    client = _oidc_client(shared, request)
    try:
        answer = client.fetch_token(
            shared.verifier.endpoint("token_endpoint"),
            code=code[:2048],
            code_verifier=str(pending["verifier"]),
            grant_type="authorization_code",
        )
    except (httpx.HTTPError, OAuthError, OAuth2Error, ValueError):  # theirs, not shown
        raise Unauthenticated("the identity provider did not accept the login code") from None
    id_token = answer.get("id_token")
    if not isinstance(id_token, str):
        raise Unauthenticated("the identity provider sent no ID token")
    who = shared.verifier.verify(
        id_token, audience=shared.verifier.config.client_id, nonce=str(pending["nonce"])
    )
    response = _logged_in(request, shared, who, safe_next(str(pending.get("next"))))
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Csrf = None) -> Response:
    """End the session now (for every copy of its cookie)."""
    checked(request, csrf)
    sessions.end(state(request).store(), request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
