"""HTTP offers (WHIP, WHEP) are answered by the node their room lives on.

A request that lands elsewhere is passed on to that node and its answer
passed back, so that a broadcaster or player never sees another address:
a redirect would do, but clients drop the bearer token when redirected to
another origin. The answer's SDP names the room node's media address.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from signalling.cluster.keys import PLACEMENT
from signalling.cluster.routing import NodeUnreachable

FORWARDED = "X-Telehealth-Forwarded"
PASSED_ON = ("Authorization", "Content-Type")
PASSED_BACK = ("Content-Type", "Location", "ETag")
MAX_BODY = 256 * 1024  # an SDP offer is a few kilobytes
TIMEOUT = aiohttp.ClientTimeout(total=15)


async def from_room_node(request: web.Request, room_id: str) -> web.Response | None:
    """None when the room lives here; else the room node's answer to this request."""
    placement = request.app[PLACEMENT]
    node = await placement.node_for(room_id)
    if node == placement.node_id:
        return None
    live = await placement.live_nodes()
    if request.headers.get(FORWARDED) in live:
        return None  # passed on by a node already: placements disagree for a moment
    address = live.get(node, {}).get("address")
    if not address:
        raise NodeUnreachable("the room's server is not answering; try again")
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
    headers = {name: request.headers[name] for name in PASSED_ON if name in request.headers}
    headers[FORWARDED] = placement.node_id
    url = str(address).rstrip("/") + request.path_qs
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            async with http.request(
                request.method, url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                return web.Response(
                    status=answer.status,
                    body=await answer.read(),
                    headers={n: answer.headers[n] for n in PASSED_BACK if n in answer.headers},
                )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise NodeUnreachable("the room's server is not answering; try again") from exc
