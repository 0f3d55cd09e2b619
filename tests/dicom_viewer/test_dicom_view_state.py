"""Shared view state: versions, late joiners, hand-over, measurements."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from dicom_viewer.measure import region_stats
from dicom_viewer.view_state import (
    Outcome,
    RegionAnnotation,
    ViewState,
    ViewStates,
    ViewUpdate,
    WindowState,
)

ROOM = "room-1"
CT = "series-ct"


@pytest.fixture
def states() -> ViewStates:
    registry = ViewStates()
    registry.open(ROOM, CT, "alice", frames=5, pixel_spacing=(0.5, 0.25))
    return registry


def test_presenter_updates_apply_and_stale_ones_are_dropped(states: ViewStates) -> None:
    first = states.update(ROOM, CT, "alice", {"version": 1, "frame": 2})
    assert first.outcome is Outcome.APPLIED
    assert first.state is not None and first.state.frame == 2
    # version 3 overtook version 2 on the way: 2 arrives late and is dropped
    third = states.update(
        ROOM, CT, "alice", ViewUpdate(version=3, frame=4, window=WindowState(center=40, width=80))
    )
    assert third.applied
    late = states.update(ROOM, CT, "alice", {"version": 2, "frame": 1})
    assert late.outcome is Outcome.STALE
    again = states.update(ROOM, CT, "alice", {"version": 3, "frame": 0})
    assert again.outcome is Outcome.STALE
    current = states.current(ROOM, CT)
    assert current is not None
    assert (current.version, current.frame) == (3, 4)
    assert current.window == WindowState(center=40, width=80)


def test_nullable_fields_can_be_cleared(states: ViewStates) -> None:
    states.update(ROOM, CT, "alice", {"version": 1, "window": {"center": 1, "width": 2}})
    result = states.update(ROOM, CT, "alice", {"version": 2, "window": None})
    assert result.applied and result.state is not None and result.state.window is None


def test_fields_not_sent_keep_their_value(states: ViewStates) -> None:
    states.update(ROOM, CT, "alice", {"version": 1, "frame": 3, "preset": "brain"})
    result = states.update(ROOM, CT, "alice", {"version": 2, "cine": {"playing": True, "fps": 30}})
    assert result.state is not None
    assert (result.state.frame, result.state.preset) == (3, "brain")
    assert result.state.cine.playing and result.state.cine.fps == 30


def test_only_the_presenter_drives(states: ViewStates) -> None:
    result = states.update(ROOM, CT, "bob", {"version": 1, "frame": 1})
    assert result.outcome is Outcome.NOT_PRESENTER
    current = states.current(ROOM, CT)
    assert current is not None and current.version == 0 and current.frame == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"version": 1, "frame": 5},  # past the last of 5 frames
        {"version": 1, "window": {"center": 40, "width": 0}},
        {"version": 1, "zoom": 2},  # not a field
        {"version": 1, "pointer": {"x": float("nan"), "y": 0}},
        {"frame": 1},  # no version
        {"version": 1, "frame": None},
        {"version": 1, "cine": None},
    ],
)
def test_invalid_updates_change_nothing(states: ViewStates, payload: dict[str, object]) -> None:
    result = states.update(ROOM, CT, "alice", payload)
    assert result.outcome is Outcome.INVALID
    assert result.detail
    assert states.current(ROOM, CT) == ViewState(
        room_id=ROOM, object_id=CT, version=0, presenter="alice", frames=5
    )


def test_late_joiner_gets_the_current_state(states: ViewStates) -> None:
    states.open(ROOM, "ecg", "alice")
    states.open("other-room", "x", "carol")
    states.update(ROOM, CT, "alice", {"version": 1, "frame": 3, "pointer": {"x": 5, "y": 6}})
    snapshot = {state.object_id: state for state in states.room(ROOM)}
    assert set(snapshot) == {CT, "ecg"}
    assert snapshot[CT].frame == 3 and snapshot[CT].version == 1
    # what travels is JSON and comes back identical
    wire = json.dumps(snapshot[CT].model_dump(mode="json"))
    assert ViewState.model_validate(json.loads(wire)) == snapshot[CT]
    # opening an object already shown does not reset it
    assert states.open(ROOM, CT, "bob", frames=5).frame == 3


def test_hand_over_moves_control(states: ViewStates) -> None:
    states.update(ROOM, CT, "alice", {"version": 4, "frame": 1, "pointer": {"x": 1, "y": 1}})
    assert states.hand_over(ROOM, CT, "bob", "bob").outcome is Outcome.NOT_PRESENTER
    handed = states.hand_over(ROOM, CT, "alice", "bob")
    assert handed.state is not None
    assert handed.state.presenter == "bob"
    assert handed.state.version == 5 and handed.state.pointer is None
    assert states.update(ROOM, CT, "alice", {"version": 9, "frame": 2}).outcome is (
        Outcome.NOT_PRESENTER
    )
    # bob continues from the version he was sent
    assert states.update(ROOM, CT, "bob", {"version": 5, "frame": 2}).outcome is Outcome.STALE
    assert states.update(ROOM, CT, "bob", {"version": 6, "frame": 2}).applied
    # a moderator may take control back
    taken = states.hand_over(ROOM, CT, "carol", "carol", sender_moderates=True)
    assert taken.state is not None and taken.state.presenter == "carol"


def test_presenter_leaving_frees_control(states: ViewStates) -> None:
    states.update(ROOM, CT, "alice", {"version": 1, "frame": 2})
    (changed,) = states.leave(ROOM, "alice")
    assert changed.presenter is None and changed.frame == 2 and changed.version == 2
    assert states.claim(ROOM, CT, "bob").applied
    assert states.claim(ROOM, CT, "carol").outcome is Outcome.NOT_PRESENTER
    states.close(ROOM)
    assert states.room(ROOM) == []


def test_length_and_angle_are_computed_by_the_server(states: ViewStates) -> None:
    annotations = [
        # 8 columns x 0.25 mm and 6 rows x 0.5 mm: a 2 x 3 mm leg pair
        {"kind": "length", "id": "l1", "frame": 0, "start": {"x": 0, "y": 0},
         "end": {"x": 8, "y": 6}, "length_mm": 999},
        {"kind": "angle", "id": "a1", "frame": 1, "a": {"x": 10, "y": 0},
         "vertex": {"x": 0, "y": 0}, "b": {"x": 0, "y": 7}},
        {"kind": "arrow", "id": "r1", "frame": 4, "tail": {"x": 1, "y": 1},
         "head": {"x": 3, "y": 3}, "text": "lesion"},
    ]  # fmt: skip
    result = states.update(ROOM, CT, "alice", {"version": 1, "annotations": annotations})
    assert result.applied and result.state is not None
    length, angle, arrow = result.state.annotations
    assert length.kind == "length" and length.length_mm == pytest.approx(np.hypot(2, 3), abs=0.01)
    assert angle.kind == "angle" and angle.degrees == 90.0
    assert arrow.kind == "arrow" and arrow.text == "lesion"
    duplicate = states.update(
        ROOM, CT, "alice", {"version": 2, "annotations": [annotations[2], annotations[2]]}
    )
    assert duplicate.outcome is Outcome.INVALID


def test_region_mean_and_sd_in_hounsfield_units(ct5n: list[Path]) -> None:
    ds = dcmread(ct5n[0])

    def measure(object_id: str, region: RegionAnnotation) -> object:
        assert object_id == "slice"
        return region_stats(
            ds, region.frame, region.shape, region.corner_a.pair(), region.corner_b.pair()
        )

    registry = ViewStates(measure_region=measure)  # type: ignore[arg-type]
    registry.open(ROOM, "slice", "alice", pixel_spacing=(0.488281, 0.488281))
    region = {
        "kind": "region", "id": "g1", "frame": 0, "shape": "rectangle",
        "corner_a": {"x": 2, "y": 3}, "corner_b": {"x": 6, "y": 9},
    }  # fmt: skip
    result = registry.update(ROOM, "slice", "alice", {"version": 1, "annotations": [region]})
    assert result.state is not None
    (measured,) = result.state.annotations
    hu = ds.pixel_array[3:10, 2:7].astype(float) - 1024.0
    assert measured.kind == "region"
    assert measured.unit == "HU"
    assert measured.mean == pytest.approx(round(hu.mean(), 2))
    assert measured.sd == pytest.approx(round(hu.std(), 2))


def test_ellipse_region_holds_fewer_pixels_than_its_box(ct5n: list[Path]) -> None:
    ds = dcmread(ct5n[0])
    box = region_stats(ds, 0, "rectangle", (0, 0), (15, 15), (0.5, 0.5))
    ellipse = region_stats(ds, 0, "ellipse", (0, 0), (15, 15), (0.5, 0.5))
    assert box is not None and ellipse is not None
    assert box.pixels == 256
    # corners are pixel centres: an ellipse of radius 7.5 holds about
    # pi x 7.5^2 pixel centres, give or take the pixel grid
    assert abs(ellipse.pixels - np.pi * 7.5**2) < 10
    assert box.area_mm2 == 64.0
