"""Target ``events``: every client socket.io event, through the server's checks.

The first byte picks the event of :data:`signalling.rooms.protocol.CLIENT_EVENTS`,
the rest is the JSON a client emits with it (socket.io hands the server the
decoded value; text that is not JSON never reaches the handlers). The
payload then goes where ``room_events.run`` sends it: the event's model, and
for a refusal :func:`describe_validation_error` and the JSON acknowledgement.
A valid ``view.update`` is applied to a view state as the imaging desk does,
with regions measured on a real CT slice, and the new state serialised as it
is broadcast. A ``ValidationError`` or a refused update is the refusal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from dicom_viewer.measure import RegionStats, region_stats
from dicom_viewer.view_state import RegionAnnotation, ViewStates
from signalling.http.errors import describe_validation_error
from signalling.rooms.protocol import CLIENT_EVENTS, ViewChange

from .mutators import json_mutator
from .seed_data import ct_slice
from .target import Target

EVENTS = tuple(CLIENT_EVENTS)
_FRAMES = 4

UID = "1.2.826.0.1.3680043.8.498.1"
PARTICIPANT = "u0123abcd-0000"
# one valid payload per event: where the mutator starts from
EXAMPLES: dict[str, Any] = {
    "room.join": {"token": "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl", "name": "Dr Lan"},
    "room.leave": {},
    "room.refresh": None,
    "room.admit": {"participant_id": PARTICIPANT},
    "room.refuse": {"participant_id": "p42"},
    "room.lock": {"locked": True},
    "room.end": {},
    "participant.mute": {"participant_id": PARTICIPANT, "kind": "video"},
    "participant.remove": {"participant_id": PARTICIPANT},
    "hand.raise": {"raised": False},
    "chat.send": {"text": "Xin chào, bác sĩ", "client_id": "c-1.2:3"},
    "chat.history": {"after_id": 17},
    "media.publish": {
        "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\n",
        "sources": {"0": "camera"},
    },
    "media.subscribe_answer": {"sdp": "v=0\r\n"},
    "media.ice": {
        "connection": "publish",
        "candidate": "candidate:1 1 UDP 2130706431 127.0.0.1 50000 typ host",
        "sdp_mid": "0",
        "sdp_mline_index": 0,
    },
    "media.pause": {"producer_id": "u1:0"},
    "media.resume": {"producer_id": "u1:1"},
    "media.restart": {},
    "media.state": {"audio": False, "video": True},
    "view.open": {"object_id": UID, "kind": "series"},
    "view.update": {
        "object_id": UID,
        "update": {
            "version": 3,
            "frame": 1,
            "window": {"center": 40, "width": 400},
            "preset": "lung",
            "viewport": {"zoom": 2.5, "pan": {"x": -3, "y": 4.5}},
            "cine": {"playing": True, "fps": 24},
            "pointer": {"x": 10, "y": 20},
            "annotations": [
                {
                    "kind": "length",
                    "id": "a",
                    "frame": 0,
                    "start": {"x": 1, "y": 2},
                    "end": {"x": 30, "y": 40},
                },
                {
                    "kind": "angle",
                    "id": "b",
                    "frame": 1,
                    "a": {"x": 0, "y": 0},
                    "vertex": {"x": 5, "y": 5},
                    "b": {"x": 10, "y": 0},
                },
                {
                    "kind": "region",
                    "id": "c",
                    "frame": 0,
                    "shape": "rectangle",
                    "corner_a": {"x": 10, "y": 10},
                    "corner_b": {"x": 60, "y": 50},
                },
                {
                    "kind": "arrow",
                    "id": "d",
                    "frame": 2,
                    "tail": {"x": 1, "y": 1},
                    "head": {"x": 9, "y": 9},
                    "text": "tổn thương",
                },
            ],
        },
    },
    "view.handover": {"object_id": UID, "participant_id": PARTICIPANT},
    "view.claim": {"object_id": UID},
    "view.close": {"object_id": UID},
    "recording.request": {},
    "recording.consent": {"recording_id": "0b7e6c1e-3f1a-4c57-9d59-7f3f6c1f1a2b", "accept": True},
    "recording.stop": {},
    "qa.ask": {"text": "Liều dùng bao nhiêu?"},
    "qa.upvote": {"question_id": 3},
    "qa.answer": {"question_id": 1},
    "qa.dismiss": {"question_id": 2},
    "participant.promote": {"participant_id": PARTICIPANT, "speaker": True},
}


def _measure(object_id: str, region: RegionAnnotation) -> RegionStats | None:
    # the desk's measurer, on a real slice; it maps every frame to that slice
    try:
        return region_stats(
            ct_slice(), 0, region.shape, region.corner_a.pair(), region.corner_b.pair(), (0.5, 0.5)
        )
    except ValueError:  # the desk treats this as "no statistics"
        return None


def one_input(data: bytes) -> None:
    if not data:
        return
    event = EVENTS[data[0] % len(EVENTS)]
    try:
        payload = json.loads(data[1:])
    except (ValueError, RecursionError):
        return  # socket.io itself refuses a packet that is not JSON
    try:
        model = CLIENT_EVENTS[event].model_validate({} if payload is None else payload)
    except ValidationError as exc:
        field, message = describe_validation_error(exc)
        json.dumps({"error": message, "field": field})
        return
    if isinstance(model, ViewChange):
        views = ViewStates(measure_region=_measure)
        views.open("room", model.object_id, PARTICIPANT, frames=_FRAMES, pixel_spacing=(0.5, 0.5))
        result = views.update("room", model.object_id, PARTICIPANT, model.update)
        if result.state is not None:
            json.dumps(result.state.model_dump(mode="json"), allow_nan=False)


def seeds() -> Iterator[bytes]:
    for index, event in enumerate(EVENTS):
        yield bytes([index]) + json.dumps(EXAMPLES[event], ensure_ascii=False).encode()


def _dictionary() -> tuple[bytes, ...]:
    names: set[str] = set()
    for model in CLIENT_EVENTS.values():
        schema = json.dumps(model.model_json_schema())
        names.update(part for part in schema.split('"') if part.isidentifier())
    tokens = [f'"{name}"'.encode() for name in sorted(names)]
    return (
        *tokens,
        b"null",
        b"true",
        b"false",
        b"1e308",
        b"-0",
        b"NaN",
        b"Infinity",
        b"9007199254740993",
        b'"\\u0000"',
        b'"\\ud800"',
        b"[]",
        b"{}",
        b'"  "',
    )


TARGET = Target(
    mutator=json_mutator,
    name="events",
    one_input=one_input,
    seeds=seeds,
    max_len=96 * 1024,  # past the largest field (an SDP of 64 KiB)
    dictionary=_dictionary(),
)
