"""python-socketio's private names that signalling.realtime.socketio_internals relies on.

If an upgrade renames or reshapes one, this fails first, by name, rather than
the reserved-event guard going quietly dead.
"""

from __future__ import annotations

import inspect

import socketio
from socketio import packet

from signalling.realtime.socketio_internals import ReservedEventGuard


def parameters(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_the_dispatch_method_the_guard_overrides_is_there() -> None:
    assert parameters(socketio.AsyncServer._handle_event) == [
        "self", "eio_sid", "namespace", "id", "data",
    ]  # fmt: skip
    assert ReservedEventGuard._handle_event is not socketio.AsyncServer._handle_event


def test_what_the_guard_answers_with_is_there() -> None:
    assert parameters(socketio.AsyncServer._send_packet) == ["self", "eio_sid", "pkt"]
    assert {"connect", "disconnect"} <= set(socketio.AsyncServer.reserved_events)
    server = socketio.AsyncServer()
    ack = server.packet_class(packet.ACK, namespace="/", id=1, data=[{"error": "x"}])
    assert ack.packet_type == packet.ACK and ack.id == 1
    assert callable(server.manager.sid_from_eio_sid)
