"""socket.io handlers for rooms: validate, rate-limit, call Rooms, answer with an ack.

Every event is acknowledged with either its result or ``{"error": ...}``
(plus ``"field"`` when a payload field is wrong); a refused event changes
nothing. A connection that keeps flooding after being refused is cut off,
and only that connection.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import socketio
from pydantic import ValidationError

from signalling.auth.tokens import Audience, InvalidToken
from signalling.cluster.routing import NodeUnreachable, RemoteError, RoomRouter
from signalling.errors import PlatformError
from signalling.http.errors import describe_validation_error
from signalling.realtime.connections import Connection, connections_of
from signalling.realtime.revocation import revocation_of
from signalling.rooms.manager import CLIENT_ADDRESS, Rooms
from signalling.rooms.protocol import CLIENT_EVENTS
from signalling.shared_state import SharedStateUnavailable

log = logging.getLogger(__name__)

# A room event's handler: (sid, the validated payload) -> the acknowledgement.
EventHandler = Callable[[str, Any], Awaitable[dict[str, Any]]]

# Events too frequent to read the database for each (a presenter drags at display
# rate, candidates come in bursts): they rely on the connection's revoked flag,
# which the half-second sweep sets (signalling.realtime.revocation).
HIGH_RATE = frozenset({"view.update", "media.ice"})


def _handlers(rooms: Rooms) -> dict[str, EventHandler]:
    def no_payload(fn: Callable[[str], Awaitable[dict[str, Any]]]) -> EventHandler:
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
        "media.state": rooms.media_state,
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
    sio: socketio.AsyncServer,
    rooms: Rooms,
    extra: dict[str, EventHandler] | None = None,
    router: RoomRouter | None = None,
) -> Callable[[str], Awaitable[None]]:
    """Install the handlers (``extra``: other features' room events); returns
    what to call when a connection closes.

    With a ``router`` (several nodes), the events of a socket whose room lives
    on another node are handled there: flood limits here, the rest there.
    """
    handlers = {**_handlers(rooms), **(extra or {})}
    assert handlers.keys() == CLIENT_EVENTS.keys(), "protocol table and handlers disagree"
    # Limits and addresses belong to the connection (signalling.realtime.server), from
    # connect to the real disconnect: nothing the client sends resets them.
    connections = connections_of(sio)
    revocation = revocation_of(sio)

    async def refuse(sid: str, message: str, **extra: Any) -> dict[str, Any]:
        if sid in connections.by_sid and not connections.limits(sid).refused():
            # (a closing connection is not flooding: what it sent arrived as it went)
            log.warning("cutting off a flooding connection", extra={"sid": sid})
            await sio.disconnect(sid)
        return {"error": message, **extra}

    async def run(event: str, sid: str, data: object, ip: str) -> tuple[dict[str, Any], bool]:
        """Validate and handle: (acknowledgement, whether it was a refusal)."""
        CLIENT_ADDRESS.set(ip)
        try:
            payload = CLIENT_EVENTS[event].model_validate({} if data is None else data)
        except ValidationError as exc:
            field, message = describe_validation_error(exc)
            return {"error": message, "field": field}, True
        try:
            return await handlers[event](sid, payload), False
        except PlatformError as exc:
            refusal = {"error": str(exc)}
            if exc.code is not None:
                refusal["code"] = exc.code
            return refusal, True
        except Exception:
            log.exception("room event failed", extra={"event": event})
            return {"error": "internal error; the incident was logged"}, False

    async def room_node(event: str, sid: str, data: object) -> str | None:
        """The node that handles this event when it is not this one."""
        assert router is not None
        if event != "room.join":
            return router.routes.get(sid)
        token = data.get("token") if isinstance(data, dict) else None
        try:
            claims = rooms.platform.signer.verify(str(token), audience=Audience.ROOM)
        except InvalidToken:
            return None  # refused here, with the usual message
        if claims.room is None:
            return None
        if sid in rooms.by_sid:
            return None  # in a room here already: refused here, as on one node
        node = await router.placement.node_for(claims.room)
        previous = router.routes.get(sid)
        if previous is not None and previous != node:
            # the connection moves on to another room: its member there is gone
            router.routes.pop(sid, None)
            with contextlib.suppress(NodeUnreachable, RemoteError):
                await router.rpc.call(previous, "room.disconnected", sid=sid)
        if node == router.node_id:
            router.routes.pop(sid, None)
            return None
        return node

    async def forward(
        node: str, event: str, sid: str, data: object, ip: str
    ) -> tuple[dict[str, Any], bool]:
        assert router is not None
        if event == "room.join":
            # Routed before the answer: the room's first events (a subscribe offer)
            # can reach the client, and its replies come back, before the join's ack.
            previous = router.routes.get(sid)
            router.routes[sid] = node
        try:
            answer = await router.rpc.call(
                node, "room.event", event=event, sid=sid, data=data, via=router.node_id, ip=ip
            )
        except RemoteError as exc:
            # the other node could not run it at all (say, an older version mid-upgrade)
            if event == "room.join":
                router.routes.pop(sid, None)
                if previous is not None:
                    router.routes[sid] = previous
            return {"error": str(exc)}, False
        except NodeUnreachable:
            if event == "room.join" and node in router.rpc.dead:
                router.routes.pop(sid, None)
                # placed again, away from the dead node
                retry = await room_node(event, sid, data)
                if retry is None:
                    return await run(event, sid, data, ip)
                if retry not in router.rpc.dead:
                    return await forward(retry, event, sid, data, ip)
            # The watcher tells the client to join again once the node is known dead.
            return {"error": "the room's server is not answering; reconnecting"}, False
        ack, refused = answer["ack"], answer["refused"]
        if event == "room.join" and "error" in ack:
            if previous is None:
                router.routes.pop(sid, None)
            else:
                router.routes[sid] = previous
        elif event == "room.leave" and "error" not in ack:
            router.routes.pop(sid, None)
        return ack, refused

    def make(event: str) -> Callable[[str, object], Awaitable[dict[str, Any]]]:
        async def on_event(sid: str, data: object = None) -> dict[str, Any]:
            connection = connections.get(sid)
            if connection is None:
                return {"error": "this connection is closing"}
            if not connection.limits.allow(event):
                return await refuse(sid, "too many messages; slow down")
            if (ended := await still_allowed(event, connection)) is not None:
                return {"error": f"your session has ended ({ended}); log in again"}
            node = None
            if router is not None:
                try:
                    node = await room_node(event, sid, data)
                except SharedStateUnavailable:
                    # Redis is away: a consultation must still start, so serve it here;
                    # once Redis is back, a room placed elsewhere sends its members there.
                    log.warning("shared state unavailable: room served on this node")
                    node = None
            if node is None:
                ack, refused = await run(event, sid, data, connection.ip)
            else:
                ack, refused = await forward(node, event, sid, data, connection.ip)
            if refused:
                return await refuse(sid, ack.pop("error"), **ack)
            return ack

        return on_event

    async def still_allowed(event: str, connection: Connection) -> str | None:
        """None, or why the connection's access has ended (it is being cut off)."""
        if event in HIGH_RATE:
            return connection.revoked
        return await revocation.check(connection)

    for event in CLIENT_EVENTS:
        sio.on(event, make(event))

    async def unknown(event: str, sid: str, *args: Any) -> dict[str, Any]:
        return await refuse(sid, f"unknown event {event[:40]!r}")

    sio.on("*", unknown)

    async def forget(sid: str) -> None:
        connection = connections.get(sid)
        # A connection cut off (account disabled, logged out) leaves its room at once;
        # one that dropped keeps its member for the grace period.
        revoked = connection is not None and connection.revoked is not None
        node = router.routes.pop(sid, None) if router is not None else None
        if node is None:
            await (rooms.revoked(sid) if revoked else rooms.disconnected(sid))
            return
        assert router is not None
        with contextlib.suppress(NodeUnreachable, RemoteError):
            try:
                await router.rpc.call(
                    node, "room.revoked" if revoked else "room.disconnected", sid=sid
                )
            except RemoteError:
                if not revoked:
                    raise
                # a node of an older version: the grace period, as before
                await router.rpc.call(node, "room.disconnected", sid=sid)

    if router is not None:

        async def served_event(
            event: str, sid: str, data: object, via: str, ip: str = ""
        ) -> dict[str, Any]:
            if event not in CLIENT_EVENTS:
                raise RemoteError(f"unknown event {event[:40]!r}")
            router.remote_sids[sid] = via
            ack, refused = await run(event, sid, data, ip)
            if sid not in rooms.by_sid:
                router.remote_sids.pop(sid, None)  # left, refused, or the room ended
            return {"ack": ack, "refused": refused}

        async def served_disconnect(sid: str) -> None:
            router.remote_sids.pop(sid, None)
            await rooms.disconnected(sid)

        async def served_revoked(sid: str) -> None:
            router.remote_sids.pop(sid, None)
            await rooms.revoked(sid)

        async def orphaned(live: Collection[str]) -> None:
            # Sockets whose node died: their members get the grace period, as on a drop.
            for sid, node in list(router.remote_sids.items()):
                if node not in live:
                    await served_disconnect(sid)

        async def fence(live: Collection[str]) -> None:
            # A room placed elsewhere meanwhile (this node was thought dead): its
            # members go to the room's new home rather than stay split from it.
            for room_id in list(rooms.rooms):
                owner = await router.placement.owner(room_id)
                if owner is not None and owner != router.node_id:
                    log.warning(
                        "room %s now lives on %s; sending its members there", room_id, owner
                    )
                    await rooms.evacuate(room_id)

        router.rpc.handle("room.event", served_event)
        router.rpc.handle("room.disconnected", served_disconnect)
        router.rpc.handle("room.revoked", served_revoked)
        router.when_nodes_change(orphaned)
        router.when_nodes_change(fence)

    return forget
