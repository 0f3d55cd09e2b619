"""Every use of python-socketio's private API, in one place.

python-socketio runs a connection's ``connect`` and ``disconnect`` handlers
when a client emits an ordinary event of that name. Its public API has no
hook before dispatch, so the guard overrides the private ``_handle_event``
and answers with ``_send_packet``. tests/signalling/realtime/
test_socketio_internals.py fails loudly when an upgrade moves either
(the version range is pinned in pyproject.toml).
"""

from __future__ import annotations

from typing import Any

import socketio
from socketio import packet


class ReservedEventGuard(socketio.AsyncServer):  # type: ignore[misc]
    """A server that refuses client events named as its reserved ones."""

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None:
        name = data[0] if isinstance(data, list) and data else None
        if name not in self.reserved_events:
            await super()._handle_event(eio_sid, namespace, id, data)
            return
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
        if id is not None:
            await self._send_packet(
                eio_sid,
                self.packet_class(
                    packet.ACK,
                    namespace=namespace or "/",
                    id=id,
                    data=[{"error": f"{name!r} is reserved and cannot be sent"}],
                ),
            )
        await self.reserved_event_refused(sid, str(name))

    async def reserved_event_refused(self, sid: str | None, name: str) -> None:
        """What else a refused reserved event costs its connection (counted as a refusal)."""
