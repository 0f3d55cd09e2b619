"""HTTP offers (WHIP, WHEP) are answered by the node their room lives on.

Elsewhere the request is redirected there with 307, which keeps the method
and the body, as WHIP and WHEP (RFC 9725, section 4.5) expect clients to follow.
"""

from __future__ import annotations

from aiohttp import web

from ..errors import PlatformError
from .keys import PLACEMENT


async def redirect_unless_here(request: web.Request, room_id: str) -> None:
    placement = request.app[PLACEMENT]
    node = await placement.node_for(room_id)
    if node == placement.node_id:
        return
    address = (await placement.live_nodes()).get(node, {}).get("address")
    if not address:
        raise PlatformError("the room's node is not answering; try again")
    raise web.HTTPTemporaryRedirect(str(address).rstrip("/") + request.path_qs)
