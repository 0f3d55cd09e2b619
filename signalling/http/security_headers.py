"""Headers every response gets however it was made (handlers, static files, socket.io).

Set when a response is prepared, so that file responses and websocket
upgrades get them too, and after aiohttp has filled in its defaults:

- `Strict-Transport-Security` on every response that went over TLS
  (`request.secure`), so a browser that once reached the platform over
  HTTPS never falls back to plain HTTP, where the session cookie and
  patient data could be read or changed on the way. Never over plain
  HTTP: RFC 6797 tells browsers to ignore it there, and sending it would
  only mislead. No proxy header is trusted for this: the platform
  terminates TLS itself (`tls_cert`), and a proxy that terminates TLS in
  front of it sets HSTS itself.
- `Server: telehealth` instead of aiohttp's `Python/3.x aiohttp/3.x`, which
  tells an attacker which advisories to try. The answers aiohttp makes
  itself to requests it cannot parse never reach the application, so the
  default it fills in is replaced too (process-wide; no aiohttp setting
  exists for it).
"""

from __future__ import annotations

from aiohttp import web, web_response

HSTS = "max-age=31536000; includeSubDomains"
SERVER = "telehealth"


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER
    if request.secure:
        response.headers["Strict-Transport-Security"] = HSTS
    else:
        response.headers.popall("Strict-Transport-Security", None)


def add_security_headers(app: web.Application) -> None:
    # The name aiohttp's StreamResponse reads when no Server header is set.
    web_response.SERVER_SOFTWARE = SERVER  # type: ignore[attr-defined]
    app.on_response_prepare.append(_on_prepare)
