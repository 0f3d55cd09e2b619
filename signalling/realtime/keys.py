"""The socket.io server and its connections, as application keys."""

from __future__ import annotations

import socketio
from aiohttp import web

from signalling.realtime.connections import Connections

SIO = web.AppKey("sio", socketio.AsyncServer)
CONNECTIONS = web.AppKey("connections", Connections)
