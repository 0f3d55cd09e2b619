"""Shared viewer state per room and per displayed object.

The presenter drives; everyone else follows. Only state travels, never
pixels. Each state carries a version: the presenter numbers its updates,
and an update whose version is not above the current one is stale (it
arrived late or out of order) and is dropped, so followers never step back.
Server-side changes (hand-over, a presenter leaving) also bump the version.
A late joiner asks for the room's current states and is in step at once.

Everything here is in memory and synchronous; the control plane calls it
from its event loop and broadcasts the states it returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .measure import RegionStats, angle_degrees, length_mm

_ID = Annotated[str, Field(min_length=1, max_length=128)]
_MAX_ANNOTATIONS = 200
_MAX_VERSION = 2**53 - 1  # versions travel as JSON numbers to browsers
# fields an update may set to null (back to the file's window, no pointer...)
_CLEARABLE = {"series_uid", "window", "preset", "pointer"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Point(_Model):
    """Image coordinates in pixels: x = column, y = row."""

    x: float
    y: float

    def pair(self) -> tuple[float, float]:
        return self.x, self.y


class WindowState(_Model):
    center: float
    width: float = Field(gt=0)


class Viewport(_Model):
    zoom: float = Field(default=1.0, gt=0, le=64)
    pan: Point = Point(x=0, y=0)


class CineState(_Model):
    playing: bool = False
    fps: float | None = Field(default=None, gt=0, le=240)


class LengthAnnotation(_Model):
    kind: Literal["length"] = "length"
    id: _ID
    frame: int = Field(ge=0)
    start: Point
    end: Point
    length_mm: float | None = None  # computed by the server from PixelSpacing


class AngleAnnotation(_Model):
    kind: Literal["angle"] = "angle"
    id: _ID
    frame: int = Field(ge=0)
    a: Point
    vertex: Point
    b: Point
    degrees: float | None = None  # computed by the server


class RegionAnnotation(_Model):
    kind: Literal["region"] = "region"
    id: _ID
    frame: int = Field(ge=0)
    shape: Literal["rectangle", "ellipse"] = "ellipse"
    corner_a: Point
    corner_b: Point
    # computed by the server from the pixels
    mean: float | None = None
    sd: float | None = None
    unit: str | None = None
    area_mm2: float | None = None


class ArrowAnnotation(_Model):
    kind: Literal["arrow"] = "arrow"
    id: _ID
    frame: int = Field(ge=0)
    tail: Point
    head: Point
    text: str = Field(default="", max_length=500)


Annotation = Annotated[
    LengthAnnotation | AngleAnnotation | RegionAnnotation | ArrowAnnotation,
    Field(discriminator="kind"),
]


class ViewState(_Model):
    """What every participant of a room shows for one object."""

    room_id: str
    object_id: str
    version: int = Field(ge=0)
    presenter: str | None
    frames: int = Field(ge=1)
    series_uid: str | None = None
    frame: int = Field(default=0, ge=0)
    window: WindowState | None = None
    preset: str | None = Field(default=None, max_length=32)
    viewport: Viewport = Viewport()
    cine: CineState = CineState()
    pointer: Point | None = None
    annotations: tuple[Annotation, ...] = ()


class ViewUpdate(_Model):
    """A presenter's change. Fields left out keep their value; annotations
    are sent whole (the list replaces the previous one)."""

    version: int = Field(ge=1, le=_MAX_VERSION)
    series_uid: str | None = Field(default=None, max_length=64)
    frame: int | None = Field(default=None, ge=0)
    window: WindowState | None = None
    preset: str | None = Field(default=None, max_length=32)
    viewport: Viewport | None = None
    cine: CineState | None = None
    pointer: Point | None = None
    annotations: tuple[Annotation, ...] | None = Field(default=None, max_length=_MAX_ANNOTATIONS)


class Outcome(StrEnum):
    APPLIED = "applied"
    STALE = "stale"  # version not above the current: dropped
    NOT_PRESENTER = "not_presenter"
    INVALID = "invalid"
    UNKNOWN_OBJECT = "unknown_object"


@dataclass(frozen=True, slots=True)
class UpdateResult:
    outcome: Outcome
    state: ViewState | None  # the current state after the call
    detail: str | None = None

    @property
    def applied(self) -> bool:
        return self.outcome is Outcome.APPLIED


# measures a region on the object's pixels; the control plane wires it to
# measure.region_stats on the stored dataset
RegionMeasurer = Callable[[str, RegionAnnotation], RegionStats | None]


@dataclass(frozen=True, slots=True)
class _Geometry:
    pixel_spacing: tuple[float, float] | None


class ViewStates:
    """All rooms' view states, keyed by (room id, object id)."""

    def __init__(self, measure_region: RegionMeasurer | None = None) -> None:
        self._states: dict[tuple[str, str], ViewState] = {}
        self._geometry: dict[tuple[str, str], _Geometry] = {}
        self._measure_region = measure_region

    def open(
        self,
        room_id: str,
        object_id: str,
        presenter: str,
        *,
        frames: int = 1,
        pixel_spacing: tuple[float, float] | None = None,
        series_uid: str | None = None,
        fps: float | None = None,
    ) -> ViewState:
        """Show an object in a room; if it is already shown, its state is
        returned unchanged."""
        key = (room_id, object_id)
        existing = self._states.get(key)
        if existing is not None:
            return existing
        state = ViewState(
            room_id=room_id,
            object_id=object_id,
            version=0,
            presenter=presenter,
            frames=frames,
            series_uid=series_uid,
            cine=CineState(fps=fps),
        )
        self._states[key] = state
        self._geometry[key] = _Geometry(pixel_spacing)
        return state

    def current(self, room_id: str, object_id: str) -> ViewState | None:
        return self._states.get((room_id, object_id))

    def room(self, room_id: str) -> list[ViewState]:
        """Every state of a room, for a participant who joins late."""
        return [state for (room, _), state in self._states.items() if room == room_id]

    def update(
        self,
        room_id: str,
        object_id: str,
        sender: str,
        update: ViewUpdate | Mapping[str, Any],
    ) -> UpdateResult:
        key = (room_id, object_id)
        state = self._states.get(key)
        if state is None:
            return UpdateResult(Outcome.UNKNOWN_OBJECT, None)
        if state.presenter != sender:
            return UpdateResult(Outcome.NOT_PRESENTER, state, f"{state.presenter} presents")
        if not isinstance(update, ViewUpdate):
            try:
                update = ViewUpdate.model_validate(update)
            except ValidationError as exc:
                return UpdateResult(Outcome.INVALID, state, _summary(exc))
        if update.version <= state.version:
            return UpdateResult(Outcome.STALE, state, f"version {state.version} is newer")
        changes: dict[str, Any] = {
            name: getattr(update, name) for name in update.model_fields_set if name != "version"
        }
        cleared = sorted(k for k, v in changes.items() if v is None and k not in _CLEARABLE)
        if cleared:
            return UpdateResult(Outcome.INVALID, state, f"{', '.join(cleared)} cannot be null")
        frame = changes.get("frame", state.frame)
        if frame >= state.frames:
            return UpdateResult(Outcome.INVALID, state, f"frame {frame} is past the last")
        if "annotations" in changes:
            annotations = changes["annotations"]
            if any(a.frame >= state.frames for a in annotations):
                return UpdateResult(Outcome.INVALID, state, "an annotation is past the last frame")
            if len({a.id for a in annotations}) != len(annotations):
                return UpdateResult(Outcome.INVALID, state, "annotation ids must be unique")
            changes["annotations"] = tuple(self._measured(key, a) for a in annotations)
        new_state = state.model_copy(update={**changes, "version": update.version})
        self._states[key] = new_state
        return UpdateResult(Outcome.APPLIED, new_state)

    def hand_over(
        self,
        room_id: str,
        object_id: str,
        sender: str,
        to: str,
        *,
        sender_moderates: bool = False,
    ) -> UpdateResult:
        """Give control to ``to``: the presenter may, and so may a moderator
        (the control plane decides who moderates)."""
        state = self._states.get((room_id, object_id))
        if state is None:
            return UpdateResult(Outcome.UNKNOWN_OBJECT, None)
        if state.presenter != sender and not sender_moderates:
            return UpdateResult(Outcome.NOT_PRESENTER, state, f"{state.presenter} presents")
        return self._set_presenter(state, to)

    def claim(self, room_id: str, object_id: str, participant: str) -> UpdateResult:
        """Take control of an object nobody presents."""
        state = self._states.get((room_id, object_id))
        if state is None:
            return UpdateResult(Outcome.UNKNOWN_OBJECT, None)
        if state.presenter is not None and state.presenter != participant:
            return UpdateResult(Outcome.NOT_PRESENTER, state, f"{state.presenter} presents")
        return self._set_presenter(state, participant)

    def leave(self, room_id: str, participant: str) -> list[ViewState]:
        """A participant left: the objects they presented keep their state
        but wait for a new presenter. Returns the states that changed."""
        changed: list[ViewState] = []
        for state in self.room(room_id):
            if state.presenter == participant:
                result = self._set_presenter(state, None)
                assert result.state is not None
                changed.append(result.state)
        return changed

    def close(self, room_id: str, object_id: str | None = None) -> None:
        """Forget one object of a room, or the whole room."""
        for key in list(self._states):
            if key[0] == room_id and (object_id is None or key[1] == object_id):
                del self._states[key]
                del self._geometry[key]

    def _set_presenter(self, state: ViewState, presenter: str | None) -> UpdateResult:
        # the pointer belonged to the previous presenter
        new_state = state.model_copy(
            update={"presenter": presenter, "pointer": None, "version": state.version + 1}
        )
        self._states[(state.room_id, state.object_id)] = new_state
        return UpdateResult(Outcome.APPLIED, new_state)

    def _measured(self, key: tuple[str, str], annotation: Annotation) -> Annotation:
        """Fill in the numbers the server is trusted to compute."""
        spacing = self._geometry[key].pixel_spacing
        if isinstance(annotation, LengthAnnotation):
            value = (
                None
                if spacing is None
                else length_mm(annotation.start.pair(), annotation.end.pair(), spacing)
            )
            return annotation.model_copy(update={"length_mm": _rounded(value)})
        if isinstance(annotation, AngleAnnotation):
            degrees = angle_degrees(
                annotation.a.pair(), annotation.vertex.pair(), annotation.b.pair()
            )
            return annotation.model_copy(update={"degrees": _rounded(degrees)})
        if isinstance(annotation, RegionAnnotation):
            stats = (
                None if self._measure_region is None else self._measure_region(key[1], annotation)
            )
            return annotation.model_copy(
                update={
                    "mean": None if stats is None else _rounded(stats.mean),
                    "sd": None if stats is None else _rounded(stats.sd),
                    "unit": None if stats is None else stats.unit,
                    "area_mm2": None if stats is None else _rounded(stats.area_mm2),
                }
            )
        return annotation


def _rounded(value: float | None) -> float | None:
    # two decimals: more would be false precision on screen
    return None if value is None or not math.isfinite(value) else round(value, 2)


def _summary(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
