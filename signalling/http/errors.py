"""Errors become JSON answers with a message a person can act on; nothing leaks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from signalling.errors import PlatformError

log = logging.getLogger(__name__)
# What an aiohttp middleware wraps.
RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


# Text that is not blank once stripped. Python's strip() also removes
# \x1c-\x1f and \x85, which JSON Schema's (ECMA) \S counts as text: exclude
# them too, so that what the schema allows is what the handler accepts.
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"


class RequestBody(BaseModel):
    """Base of every REST body: unknown fields are refused, strings trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def json_error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def describe_validation_error(exc: ValidationError) -> tuple[str, str]:
    """(field, message) of the first problem, e.g. ("password", "Field required")."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    return field, f"{field}: {err['msg']}"


async def parse_json(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        # Also a CSRF guard: a cross-site form cannot send JSON without a preflight.
        raise web.HTTPUnsupportedMediaType(
            text='{"error": "send a JSON body (Content-Type: application/json)"}',
            content_type="application/json",
        )
    try:
        raw = await request.read()
        return model.model_validate_json(raw)
    except ValidationError as exc:
        field, message = describe_validation_error(exc)
        raise web.HTTPBadRequest(
            text=web.json_response({"error": message, "field": field}).text,
            content_type="application/json",
        ) from None


@web.middleware
async def error_middleware(request: web.Request, handler: RequestHandler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PlatformError as exc:
        # The code, where given, lets a page say it in the person's language.
        extra = {"code": exc.code} if exc.code else {}
        return json_error(exc.status, str(exc), **extra)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            response = json_error(exc.status, exc.reason)
            if "Allow" in exc.headers:  # 405 must say what is allowed (RFC 9110)
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        raise
    except Exception:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return json_error(500, "internal error; the incident was logged")


@web.middleware
async def security_headers(request: web.Request, handler: RequestHandler) -> web.StreamResponse:
    response = await handler(request)
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    headers.setdefault(
        "Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)"
    )
    return response
