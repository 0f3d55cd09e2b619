"""The composition root: builds the aiohttp application around an open Platform."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from media_server.api import MediaConfig, MediaServer
from media_server.reachability import IceServer, TurnRest
from media_server.tasks import TaskSet
from recordings.recorder import Recorder
from recordings.recovery import recover
from signalling.background import every, running
from signalling.casefile import routes as casefile_routes
from signalling.casefile import share_routes
from signalling.cluster.keys import NODES, PLACEMENT
from signalling.cluster.nodes import NodeRegistry, heartbeat, new_node_id
from signalling.cluster.routing import NodeRpc, RoomPlacement, RoomRouter, serving
from signalling.dispatch import routes as dispatch_routes
from signalling.dispatch.dispatcher import Deadlines, Dispatcher
from signalling.dispatch.keys import DISPATCHER
from signalling.http import health
from signalling.http.csrf import csrf_middleware
from signalling.http.errors import error_middleware, security_headers
from signalling.http.identity import identity_middleware
from signalling.http.keys import PLATFORM
from signalling.http.metrics import METRICS, Metrics, metrics_handler, metrics_middleware
from signalling.http.security_headers import add_security_headers
from signalling.http.web_client import add_web_client_routes
from signalling.imaging import routes as imaging_routes
from signalling.imaging.desk import Imaging
from signalling.imaging.dicomweb_routes import add_dicomweb_routes
from signalling.imaging.keys import IMAGING, RECEIVER
from signalling.imaging.receiver import Receiver
from signalling.imaging.view_events import ViewEvents
from signalling.network import admin_routes, audit_routes, login_routes, patient_routes
from signalling.openapi import openapi_handler
from signalling.platform import Platform
from signalling.realtime.connections import Connections
from signalling.realtime.keys import CONNECTIONS, SIO
from signalling.realtime.presence import Presence
from signalling.realtime.revocation import revocation_of
from signalling.realtime.server import (
    SocketNotifier,
    create_socketio,
    presence_heartbeat,
)
from signalling.recording import routes as recording_routes
from signalling.recording.consent import RecordingDesk
from signalling.recording.keys import RECORDINGS
from signalling.rooms import routes as room_routes
from signalling.rooms.cascade import Cascade
from signalling.rooms.events import register_room_events
from signalling.rooms.keys import ROOMS
from signalling.rooms.listener import RoomListener
from signalling.rooms.manager import Rooms
from signalling.settings import Settings
from signalling.training import routes as training_routes
from signalling.training import whep, whip
from signalling.training.classroom import TrainingEvents
from signalling.uploads import routes as upload_routes

log = logging.getLogger(__name__)

# Every feature's REST routes, in the order they are matched (and documented).
API_ROUTES: tuple[web.RouteTableDef, ...] = (
    health.routes,
    login_routes.routes,
    admin_routes.routes,
    audit_routes.routes,
    patient_routes.routes,
    dispatch_routes.routes,
    room_routes.routes,
    casefile_routes.routes,
    share_routes.routes,
    recording_routes.routes,
    training_routes.routes,
    whip.routes,
    whep.routes,
    imaging_routes.routes,
    upload_routes.routes,
)

# A recording no node wrote for this long is finished as interrupted (a live
# track writes every 2 s at most; a silent publisher is dropped after 15 s).
RECOVERY_IDLE_S = 60.0


async def escalation_sweeper(app: web.Application) -> AsyncIterator[None]:
    """Escalates requests whose deadline passed; safe on every node at once."""
    dispatcher = app[DISPATCHER]

    async with running(every(1.0, dispatcher.escalate_due, "escalation sweep")):
        yield


def media_config(settings: Settings) -> MediaConfig:
    """Reachability from the settings: announced address, STUN/TURN for the browsers."""
    turn = None
    if settings.turn_secret is not None:
        turn = TurnRest(
            tuple(settings.turn_urls),
            settings.turn_secret.get_secret_value(),
            settings.turn_ttl_seconds,
        )
    return MediaConfig(
        announced_address=settings.media_announced_address,
        client_ice_servers=tuple(IceServer((url,)) for url in settings.ice_servers),
        turn=turn,
        simulcast=settings.simulcast,
    )


def build_app(platform: Platform) -> web.Application:
    app = web.Application(
        middlewares=[
            metrics_middleware,
            security_headers,
            error_middleware,
            identity_middleware,
            csrf_middleware,  # after identity, so that a refusal names the account
        ],
        client_max_size=1024**2,  # JSON bodies; uploads stream through their own routes
    )
    add_security_headers(app)
    metrics = Metrics()
    app[PLATFORM] = platform
    app[METRICS] = metrics
    for table in API_ROUTES:
        app.add_routes(table)
    add_dicomweb_routes(app)
    upload_routes.add_uploads(app)  # the store and its expiry sweeper
    imaging = Imaging(platform)
    app[IMAGING] = imaging
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/api/openapi.json", openapi_handler)
    add_web_client_routes(app)
    connections = Connections(Presence(platform.shared))
    sio = create_socketio(platform, metrics, connections)
    sio.attach(app, socketio_path="socket.io")
    app[SIO] = sio
    app[CONNECTIONS] = connections
    app.cleanup_ctx.append(presence_heartbeat)

    settings = platform.settings
    dispatcher = Dispatcher(
        platform,
        SocketNotifier(sio),
        Deadlines(
            emergency=timedelta(seconds=settings.dispatch_emergency_seconds),
            urgent=timedelta(seconds=settings.dispatch_urgent_seconds),
            routine=timedelta(seconds=settings.dispatch_routine_seconds),
        ),
    )
    app[DISPATCHER] = dispatcher
    app.cleanup_ctx.append(escalation_sweeper)

    media = MediaServer(config=media_config(settings))
    rooms = Rooms(
        platform,
        sio,
        media,
        grace_s=settings.room_grace_seconds,
        idle_end_s=settings.room_idle_end_seconds,
    )
    views = ViewEvents(rooms, imaging)
    recordings_dir = settings.recordings_dir
    recorder = Recorder(media, recordings_dir)
    desk = RecordingDesk(rooms, recorder, recordings_dir)
    app[RECORDINGS] = desk
    training = TrainingEvents(rooms)

    registry = NodeRegistry(
        platform.shared,
        new_node_id(),
        lambda: {
            "rooms": len(rooms.rooms),
            "members": sum(len(r.members) for r in rooms.rooms.values()),
            "sockets": len(connections.users),
            # rooms of other nodes served here to this node's watchers (cascading)
            "edge_rooms": len(cascade.edges),
            "edge_watchers": sum(len(e.watchers) for e in cascade.edges.values()),
        },
        settings.effective_public_url,
    )
    app[NODES] = registry
    rpc = NodeRpc(platform.shared, registry.node_id)
    placement = RoomPlacement(platform.shared, registry, rpc.dead)

    async def moved(sid: str) -> None:
        await sio.emit("room.moved", {}, to=sid)

    router = RoomRouter(placement, rpc, moved)
    background_tasks = TaskSet()
    app[PLACEMENT] = placement
    cascade = Cascade(rooms, media, sio, rpc, router)

    class Unplace(RoomListener):
        def room_closed(self, room_id: str) -> None:
            background_tasks.spawn(placement.forget(room_id))

    # What the room announces, each feature hears, in this order.
    for listener in (views, desk, training, cascade, Unplace()):
        rooms.add_listener(listener)
    rooms.place_media_with(cascade.place)
    # The one receiver of media events: the cascade takes its edge and pipe peers'
    # events and hands the rest to the rooms.
    media.set_listener(cascade.on_media_event)
    revocation_of(sio).cover_socketless(rooms)
    connections.when_closed(
        register_room_events(
            sio, rooms, {**views.handlers(), **desk.handlers(), **training.handlers()}, router
        )
    )

    async def node_heartbeat(app: web.Application) -> AsyncIterator[None]:
        async with heartbeat(registry), serving(rpc, router):
            yield

    app.cleanup_ctx.append(node_heartbeat)

    async def recover_recordings(app: web.Application) -> None:
        # Recordings a crash left open are closed and marked interrupted first.
        recordings_dir.mkdir(parents=True, exist_ok=True)
        # On a shared directory, only what nobody is writing any more.
        idle = RECOVERY_IDLE_S if settings.shared_dir else 0.0
        interrupted = await asyncio.to_thread(recover, recordings_dir, idle)
        if interrupted:
            log.warning("closed %d interrupted recording tracks", len(interrupted))

    async def recover_forever(app: web.Application) -> AsyncIterator[None]:
        # Shared by nodes: a node that died is not restarted to recover its files.
        if not settings.shared_dir:
            yield
            return
        async with running(
            every(RECOVERY_IDLE_S, lambda: recover_recordings(app), "recording recovery")
        ):
            yield

    app.cleanup_ctx.append(recover_forever)
    app.on_startup.append(recover_recordings)
    app[ROOMS] = rooms

    receiver = Receiver(imaging)
    app[RECEIVER] = receiver

    async def run_receiver(app: web.Application) -> AsyncIterator[None]:
        await receiver.start()
        yield
        await receiver.stop()

    app.cleanup_ctx.append(run_receiver)

    async def close_rooms(app: web.Application) -> None:
        await recorder.close()
        await rooms.close()
        await media.close()

    app.on_shutdown.append(close_rooms)

    async def stop_socketio(app: web.Application) -> None:
        await sio.shutdown()

    app.on_shutdown.append(stop_socketio)
    return app
