"""socket.io handlers for rooms: validate, rate-limit, call Rooms, answer with an ack.

Every event is acknowledged with either its result or ``{"error": ...}``
(plus ``"field"`` when a payload field is wrong); a refused event changes
nothing. A connection that keeps flooding after being refused is cut off,
and only that connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from pydantic import BaseModel, ValidationError

from .errors import PlatformError
from .http.errors import describe_validation_error
from .rate_limit import ConnectionLimits
from .room_protocol import CLIENT_EVENTS
from .rooms import Rooms

log = logging.getLogger(__name__)

Handler = Callable[[str, Any], Awaitable[dict[str, Any]]]


def _handlers(rooms: Rooms) -> dict[str, Handler]:
    def no_payload(fn: Callable[[str], Awaitable[dict[str, Any]]]) -> Handler:
        return lambda sid, _payload: fn(sid)

    async def leave(sid: str) -> dict[str, Any]:
        await rooms.leave(sid)
        return {"ok": True}

    return {
        "room.join": rooms.join,
        "room.leave": no_payload(leave),
        "room.refresh": no_payload(rooms.refresh),
        "room.admit": rooms.admit,
        "room.refuse": rooms.refuse,
        "room.lock": rooms.lock,
        "room.end": no_payload(rooms.end),
        "participant.mute": rooms.mute,
        "participant.remove": rooms.remove,
        "hand.raise": rooms.hand,
        "chat.send": rooms.chat_send,
        "chat.history": rooms.chat_history,
        "media.publish": rooms.publish,
        "media.subscribe_answer": rooms.subscribe_answer,
        "media.ice": rooms.ice,
        "media.pause": rooms.pause,
        "media.resume": rooms.resume,
        "media.restart": no_payload(rooms.restart),
    }


def register_room_events(
    sio: socketio.AsyncServer, rooms: Rooms, extra: dict[str, Handler] | None = None
) -> Callable[[str], Awaitable[None]]:
    """Install the handlers (``extra``: other features' room events); returns
    what to call when a connection closes."""
    handlers = {**_handlers(rooms), **(extra or {})}
    assert handlers.keys() == CLIENT_EVENTS.keys(), "protocol table and handlers disagree"
    limits: dict[str, ConnectionLimits] = {}

    async def refuse(sid: str, message: str, **extra: Any) -> dict[str, Any]:
        if not limits.setdefault(sid, ConnectionLimits()).refused():
            log.warning("cutting off a flooding connection", extra={"sid": sid})
            await sio.disconnect(sid)
        return {"error": message, **extra}

    def make(event: str, model: type[BaseModel], handler: Handler) -> Any:
        async def on_event(sid: str, data: Any = None) -> dict[str, Any]:
            if not limits.setdefault(sid, ConnectionLimits()).allow(event):
                return await refuse(sid, "too many messages; slow down")
            try:
                payload = model.model_validate({} if data is None else data)
            except ValidationError as exc:
                field, message = describe_validation_error(exc)
                return await refuse(sid, message, field=field)
            try:
                return await handler(sid, payload)
            except PlatformError as exc:
                return await refuse(sid, str(exc))
            except Exception:
                log.exception("room event failed", extra={"event": event})
                return {"error": "internal error; the incident was logged"}

        return on_event

    for event, model in CLIENT_EVENTS.items():
        sio.on(event, make(event, model, handlers[event]))

    async def unknown(event: str, sid: str, *args: Any) -> dict[str, Any]:
        return await refuse(sid, f"unknown event {event[:40]!r}")

    sio.on("*", unknown)

    async def forget(sid: str) -> None:
        limits.pop(sid, None)
        await rooms.disconnected(sid)

    return forget
