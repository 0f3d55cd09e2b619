"""Cross-site request forgery: a state-changing request with the log-in cookie must come from us.

SameSite=Strict keeps the cookie off most cross-site requests, but not off
every one (same-site subdomains, older browsers, some redirects). So every
POST, PUT, PATCH and DELETE that carries the session cookie is refused
(403) when the browser says it came from elsewhere: `Sec-Fetch-Site` is
`cross-site` or `same-site`, or `Origin` is present and is not this
server's own origin (the request's scheme and host, or `public_url`);
`Origin: null` (sandboxed frames, some redirects) is refused too.

A request with neither header passes: browsers send `Origin` on every
cross-origin and every non-GET fetch, so only non-browser clients omit
both, and they are no CSRF vector. Bearer-token requests without the
cookie pass untouched: a forged page cannot attach an Authorization
header without a CORS preflight, which this server never grants.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from signalling.audit import Outcome
from signalling.auth.login_sessions import COOKIE_NAME
from signalling.http.errors import RequestHandler, json_error
from signalling.http.identity import actor_of
from signalling.http.keys import USER, platform_of

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})


def _origin(url: str) -> str:
    """scheme://host[:port], lower-case, default ports dropped (as browsers send Origin)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def own_origins(request: web.Request) -> set[str]:
    """The origins this request may come from: the one it reached, and the public URL."""
    origins = {_origin(f"{request.scheme}://{request.host}")}
    origins.add(_origin(platform_of(request).settings.effective_public_url))
    return origins


# Log-in CSRF: a forged log-in carries no cookie yet, but would put the
# victim's browser into the attacker's account (what they then enter is the
# attacker's to read), so the log-in is checked without one.
LOGIN_PATH = "/api/auth/login"


def refusal(request: web.Request) -> str | None:
    """Why this request looks forged, or None if it may go on."""
    if request.method not in STATE_CHANGING:
        return None
    if COOKIE_NAME not in request.cookies and request.path != LOGIN_PATH:
        return None
    site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if site in FOREIGN_FETCH_SITES:
        return f"Sec-Fetch-Site is {site}"
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    if origin.strip().lower() == "null" or _origin(origin) not in own_origins(request):
        return f"Origin {origin[:200]!r} is not this server"
    return None


@web.middleware
async def csrf_middleware(request: web.Request, handler: RequestHandler) -> web.StreamResponse:
    reason = refusal(request)
    if reason is None:
        return await handler(request)
    if USER in request:  # identity_middleware ran first: the cookie named an account
        await platform_of(request).audit.record(
            actor_of(request[USER], request),
            "http.csrf",
            outcome=Outcome.DENIED,
            object_type="route",
            object_id=f"{request.method} {request.path}"[:200],
            detail={"status": 403, "reason": reason},
        )
    return json_error(
        403,
        f"cross-site request refused: {reason}; use the platform's own pages or a bearer token",
        reason="csrf",
    )
