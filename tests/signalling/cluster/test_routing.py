"""The cluster's parts against one shared state: calls between nodes, room placement."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from signalling.cluster.nodes import NodeRegistry
from signalling.cluster.routing import NodeRpc, NodeUnreachable, RemoteError, RoomPlacement
from signalling.errors import PlatformError
from signalling.shared_state import InProcessState, SharedState
from tests.signalling.rooms.test_manager import Consult, Patient, consult, emit

__all__ = ["consult"]  # the fixture


def node(shared: SharedState, name: str, members: int = 0) -> tuple[NodeRegistry, NodeRpc]:
    registry = NodeRegistry(
        shared, name, lambda: {"members": members, "rooms": 0}, f"http://{name}"
    )
    return registry, NodeRpc(shared, name)


async def test_calls_between_nodes() -> None:
    shared = InProcessState()
    _, a = node(shared, "a")
    _, b = node(shared, "b")

    async def add(x: int, y: int) -> int:
        return x + y

    async def refuse() -> None:
        raise PlatformError("not on this node")

    async def crash() -> None:
        raise KeyError("secret detail")

    async def slow() -> None:
        await asyncio.sleep(5)

    for name, handler in {"add": add, "refuse": refuse, "crash": crash, "slow": slow}.items():
        b.handle(name, handler)
    await a.start()
    await b.start()
    try:
        assert await a.call("b", "add", x=2, y=3) == 5
        with pytest.raises(RemoteError, match="not on this node"):
            await a.call("b", "refuse")
        with pytest.raises(RemoteError) as crashed:
            await a.call("b", "crash")
        assert "secret" not in str(crashed.value) and "KeyError" in str(crashed.value)
        with pytest.raises(RemoteError, match="no method"):
            await a.call("b", "nothing")
        with pytest.raises(NodeUnreachable):
            await a.call("b", "slow", timeout=0.2)
        # Nobody listens on a stopped node's channel: known at once, and remembered.
        await b.stop()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(NodeUnreachable, match="gone"):
            await a.call("b", "add", x=1, y=1)
        assert loop.time() - start < 0.5
        assert "b" in a.dead
    finally:
        await a.stop()
        await b.stop()


async def test_placement_by_load_and_moving_off_a_dead_node() -> None:
    shared = InProcessState()
    registries: dict[str, Any] = {}
    for name, members in [("a", 3), ("b", 1), ("c", 1)]:
        registries[name], _ = node(shared, name, members)
        await registries[name].beat()
    dead: dict[str, float] = {}
    at_a = RoomPlacement(shared, registries["a"], dead)
    at_c = RoomPlacement(shared, registries["c"], dead)

    # the least loaded node; on a tie the asking node (c), so no hop is needed
    assert await at_c.node_for("r1") == "c"
    assert await at_a.node_for("r1") == "c"  # recorded: every node agrees
    assert await at_a.node_for("r2") == "b"  # a is busier; b beats c by name

    # c is found gone: both nodes asking at once agree on one new home
    dead["c"] = time.time()
    homes = await asyncio.gather(at_a.node_for("r1"), at_c.node_for("r1"))
    assert homes[0] == homes[1] == "b"
    assert await shared.get("room:r1:node") == "b"
    assert "c" not in await at_a.live_nodes()
    # ... but it was a blip: a heartbeat sent after that brings it back
    await asyncio.sleep(0.01)
    await registries["c"].beat()
    assert "c" in await at_a.live_nodes() and "c" not in dead
    assert await at_a.node_for("r1") == "b"  # the room stays where it went

    await at_a.forget("r2")  # only the room's own node forgets it
    assert await shared.get("room:r2:node") == "b"
    await RoomPlacement(shared, registries["b"]).forget("r2")
    assert await shared.get("room:r2:node") is None


async def test_a_room_placed_elsewhere_sends_its_members_there(consult: Consult) -> None:
    """A node that was thought dead finds its room placed on another node: it closes
    its copy and tells the members, who join again where the room now is."""
    first = await consult.enter(consult.doc)
    key = f"room:{consult.room}:node"
    here = await consult.platform.shared.get(key)
    assert here is not None
    await consult.platform.shared.set(key, "a-node-that-took-it-over")
    assert await consult.doc.next("room.moved", timeout=5) == {}
    # that node is not live either: joining again places the room here once more
    again = await consult.enter(consult.doc)
    assert again["resumed"] is False and again["participant_id"] == first["participant_id"]
    assert await consult.platform.shared.get(key) == here


async def test_who_was_let_in_comes_back_in_while_the_room_lives(consult: Consult) -> None:
    await consult.enter(consult.doc)
    patient = Patient(consult.url)
    await patient.connect()
    try:
        ack = await patient.emit("room.join", {"token": await consult.patient_link()})
        assert ack["state"] == "lobby"
        session = ack["session_token"]
        await emit(consult.doc, "room.admit", {"participant_id": ack["participant_id"]})
        await patient.next("room.admitted")

        # The room moves to another node: the patient comes back into the room.
        key = f"room:{consult.room}:node"
        await consult.platform.shared.set(key, "a-node-that-took-it-over")
        await patient.next("room.moved", timeout=5)
        assert (await patient.emit("room.join", {"token": session}))["state"] == "joined"

        # Everyone leaves: the room is over; coming back starts in the lobby again.
        assert (await patient.emit("room.leave"))["ok"]
        assert (await patient.emit("room.join", {"token": session}))["state"] == "lobby"
    finally:
        await patient.sio.disconnect()
