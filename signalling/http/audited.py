"""Refusals of a route, audited where the request is answered.

A handler writes its own row when it succeeds (it knows which detail is
worth keeping); this wrapper writes the row when it refuses: a 4xx, from a
rule or from a bad body, is `denied`, anything else `error`, with the status
and the message the caller got, the account, its role and its address.
Requests without an account (401) write none: they never reached patient
data, and a caller without one must not be able to grow the chained log.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from aiohttp import web

from signalling.audit import Outcome
from signalling.errors import PlatformError
from signalling.http.errors import RequestHandler
from signalling.http.identity import actor_of
from signalling.http.keys import USER, platform_of


def _message(exc: web.HTTPException) -> str:
    try:
        return str(json.loads(exc.text or "")["error"])
    except (ValueError, KeyError, TypeError):
        return exc.reason


def audited(
    action: str, object_type: str, id_key: str = "id"
) -> Callable[[RequestHandler], RequestHandler]:
    """Audit every refusal of the wrapped handler as ``action`` on its ``id_key`` object."""

    def wrap(handler: RequestHandler) -> RequestHandler:
        async def refused(request: web.Request, status: int, message: str) -> None:
            if USER not in request:
                return
            object_id = request.match_info.get(id_key, "")
            await platform_of(request).audit.record(
                actor_of(request[USER], request),
                action,
                outcome=Outcome.DENIED if status < 500 else Outcome.ERROR,
                object_type=object_type,
                object_id=object_id,
                # A patient asked for by id is named as the subject, found or not.
                patient_id=int(object_id) if object_type == "patient" and object_id else None,
                detail={"status": status, "reason": message[:500]},
            )

        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except PlatformError as exc:
                await refused(request, exc.status, str(exc))
                raise
            except web.HTTPException as exc:
                if exc.status >= 400:
                    await refused(request, exc.status, _message(exc))
                raise
            except Exception:
                await refused(request, 500, "internal error")
                raise

        return run

    return wrap
