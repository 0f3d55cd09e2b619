"""The cluster's application keys."""

from __future__ import annotations

from aiohttp import web

from signalling.cluster.nodes import NodeRegistry
from signalling.cluster.routing import RoomPlacement

NODES = web.AppKey("nodes", NodeRegistry)
PLACEMENT = web.AppKey("placement", RoomPlacement)
