"""The room's socket.io protocol: every client event and its payload schema.

Each entry of :data:`CLIENT_EVENTS` is an event a client may emit, with the
pydantic model its payload must satisfy; anything else is answered with an
error that names the field, and changes nothing. docs/PROTOCOL.md is
checked against this table by the tests.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dicom_viewer.view_state import ViewUpdate

MAX_SDP = 64 * 1024
PARTICIPANT_ID = r"^[up][0-9a-f-]{1,40}$"
DICOM_UID = r"^[0-9]+(\.[0-9]+)*$"


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True, frozen=True)


class Join(Payload):
    token: str = Field(min_length=10, max_length=4096)
    name: str | None = Field(None, min_length=1, max_length=100)
    # The page's media session (random, one per page): a join that names another
    # than the member's media has comes from a new page, whose media starts over.
    media_session: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{8,64}$")


class Empty(Payload):
    pass


class Target(Payload):
    participant_id: str = Field(pattern=PARTICIPANT_ID)


class Mute(Payload):
    participant_id: str = Field(pattern=PARTICIPANT_ID)
    kind: Literal["audio", "video"] = "audio"


class Lock(Payload):
    locked: bool


class Hand(Payload):
    raised: bool


class MediaState(Payload):
    audio: bool
    video: bool


class ChatSend(Payload):
    text: str = Field(min_length=1, max_length=2000)
    # Chosen by the client; resending the same id after a reconnect stores nothing twice.
    client_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class ChatHistory(Payload):
    after_id: int = Field(0, ge=0)


class Publish(Payload):
    sdp: str = Field(min_length=1, max_length=MAX_SDP)
    sources: dict[str, Literal["microphone", "camera", "screen"]] | None = Field(None, max_length=8)


class SubscribeAnswer(Payload):
    sdp: str = Field(min_length=1, max_length=MAX_SDP)


class Ice(Payload):
    connection: Literal["publish", "subscribe"]
    candidate: str | None = Field(None, max_length=1024)
    sdp_mid: str | None = Field(None, max_length=32)
    sdp_mline_index: int | None = Field(None, ge=0, le=64)


class ConsumerRef(Payload):
    producer_id: str = Field(min_length=1, max_length=128)


class ViewRef(Payload):
    """A displayed object: a series (slices) or one instance (a cine loop, an ECG)."""

    object_id: str = Field(min_length=1, max_length=64, pattern=DICOM_UID)


class ViewOpen(ViewRef):
    kind: Literal["series", "instance"]


class ViewChange(ViewRef):
    update: ViewUpdate


class ViewHandover(ViewRef):
    participant_id: str = Field(pattern=PARTICIPANT_ID)


class QuestionAsk(Payload):
    text: str = Field(min_length=1, max_length=1000, pattern=r"\S")


class QuestionRef(Payload):
    question_id: int = Field(ge=1)


class Promote(Payload):
    participant_id: str = Field(pattern=PARTICIPANT_ID)
    speaker: bool


class RecordingAnswer(Payload):
    recording_id: str = Field(min_length=1, max_length=36)
    accept: bool


CLIENT_EVENTS: dict[str, type[Payload]] = {
    "room.join": Join,
    "room.leave": Empty,
    "room.refresh": Empty,
    "room.admit": Target,
    "room.refuse": Target,
    "room.lock": Lock,
    "room.end": Empty,
    "participant.mute": Mute,
    "participant.remove": Target,
    "hand.raise": Hand,
    "media.state": MediaState,
    "chat.send": ChatSend,
    "chat.history": ChatHistory,
    "media.publish": Publish,
    "media.subscribe_answer": SubscribeAnswer,
    "media.ice": Ice,
    "media.pause": ConsumerRef,
    "media.resume": ConsumerRef,
    "media.restart": Empty,
    "view.open": ViewOpen,
    "view.update": ViewChange,
    "view.handover": ViewHandover,
    "view.claim": ViewRef,
    "view.close": ViewRef,
    "recording.request": Empty,
    "recording.consent": RecordingAnswer,
    "recording.stop": Empty,
    "qa.ask": QuestionAsk,
    "qa.upvote": QuestionRef,
    "qa.answer": QuestionRef,
    "qa.dismiss": QuestionRef,
    "participant.promote": Promote,
}

# What each client event does, and who may send it (for docs/PROTOCOL.md).
CLIENT_EVENT_DOCS: dict[str, str] = {
    "room.join": "Enter a room with a room token (staff) or a patient link's token. Answers "
    "`state` (`joined` or `lobby`), `participant_id`, `resumed`, `media_resumed`, and once in: "
    "participants, producers, chat history; a patient also gets `session_token` for "
    "reconnecting. A page sends its own random `media_session`: joining with another than "
    "the member's media has (a reload, another tab) ends that media, so the page publishes "
    "afresh; the same one (a socket reconnect) keeps it (`media_resumed: true`).",
    "room.leave": "Leave the room for good (no grace period).",
    "room.refresh": "Get a fresh room token before the current one expires.",
    "room.admit": "Moderators: let someone in from the lobby.",
    "room.refuse": "Moderators: turn someone away from the lobby; they cannot come back.",
    "room.lock": "Moderators: lock the room (everyone new waits in the lobby) or unlock it.",
    "room.end": "Moderators: end the session for everyone.",
    "participant.mute": "Moderators: ask a participant's client to mute; only they unmute.",
    "participant.remove": "Moderators: remove a participant; they cannot come back.",
    "hand.raise": "Raise or lower your hand.",
    "media.state": "Whether your microphone and camera are on (as you switched them; audio "
    "only counts as camera off): everyone's tiles show it (`participant.updated`).",
    "chat.send": "Send a chat line (kept with the session). Resending the same `client_id` "
    "after a reconnect stores nothing twice and answers `duplicate: true`.",
    "chat.history": "Chat lines after `after_id` (what you missed while away).",
    "media.publish": "Your publish connection's offer; answers the SDP answer.",
    "media.subscribe_answer": "Your answer to a `media.subscribe_offer`.",
    "media.ice": "A trickled ICE candidate for your publish or subscribe connection.",
    "media.pause": "Stop receiving a producer (e.g. a video you do not show).",
    "media.resume": "Receive it again; a keyframe is requested at once.",
    "media.restart": "Start your media over with new connections (after `media.closed`).",
    "view.open": "Show a series or instance of the consultation's case file to the room; you "
    "present it. If it is shown already, answers its current `state` unchanged.",
    "view.update": "Presenter: change what everyone sees (frame, window, preset, zoom/pan, cine, "
    "pointer, annotations). `update.version` must exceed the current one; an older one is "
    "dropped and answered `applied: false, stale: true` with the current `state`.",
    "view.handover": "Presenter or moderator: give control of an object to another participant.",
    "view.claim": "Take control of an object nobody presents (its presenter left).",
    "view.close": "Presenter or moderator: stop showing an object.",
    "recording.request": "Moderators with the record grant: ask to record; everyone is told, "
    "every patient must answer, and recording starts when they have.",
    "recording.consent": "Answer a recording request (accept or refuse); a patient who refuses is "
    "not recorded. Answers go to the audit log (and a patient's to the case file).",
    "recording.stop": "Moderators with the record grant: stop; the files are finished and listed.",
    "qa.ask": "Ask the trainer a question (it joins the room's queue).",
    "qa.upvote": "Upvote a question; once per participant.",
    "qa.answer": "Moderators: mark a question answered (it leaves the queue).",
    "qa.dismiss": "Moderators: dismiss a question.",
    "participant.promote": "Moderators: make a participant a speaker (may publish) or a "
    "listener again; their page then publishes or stops.",
}

# Events the server emits, with what they carry (documented in docs/PROTOCOL.md).
SERVER_EVENTS: dict[str, str] = {
    "welcome": "you (staff): the connection is authenticated",
    "consult.offer": "specialists asked: a request for their specialty, with its urgency",
    "consult.status": "requester: which ring is asked, whether it escalated, how many",
    "consult.accepted": "requester: who accepted",
    "consult.declined": "requester: who declined, and why",
    "consult.taken": "specialists asked: the request was taken or cancelled",
    "consult.invited": "you: a clinician invited you into a consultation",
    "room.lobby": "moderators: who waits in the lobby",
    "room.admitted": "you: you were let in; the room's state follows",
    "room.refused": "you: a moderator refused you entry (then the connection is closed)",
    "room.removed": "you: a moderator removed you (then the connection is closed)",
    "room.ended": "everyone: the session was ended",
    "room.locked": "everyone: the room was locked or unlocked",
    "room.muted": "you: a moderator muted your microphone or camera",
    "participant.joined": "everyone: someone entered the room",
    "participant.left": "everyone: someone left (after the reconnect grace period; at once, "
    "reason removed, when removed or cut off)",
    "participant.updated": "everyone: a hand raised or lowered, a microphone or camera switched"
    " (`audio`, `video`), a moderator's mute request",
    "chat.message": "everyone in the room: a chat line",
    "media.subscribe_offer": "you: the server's (re-)offer for your subscribe connection",
    "media.producer_added": "everyone: a new track to receive",
    "media.producer_removed": "everyone: a track ended",
    "media.active_speaker": "everyone: who is speaking",
    "media.stream_state": "you: the videos (producer ids) your link has `paused` (not even the"
    " lowest encoding fits) or `reduced` (below the sender's best); empty lists: all whole",
    "media.closed": "you: your media connection failed or timed out; send media.restart",
    "room.replaced": "you: the same participant joined from another connection",
    "room.moved": "you: the room's node stopped; send room.join again (it comes up elsewhere)",
    "view.state": "everyone in the room: the current view state of an object (never pixels)",
    "view.closed": "everyone in the room: an object is no longer shown",
    "error": "you: an event you sent was refused, and why",
    "recording.consent_request": "everyone: a moderator asks to record; patients must answer",
    "recording.consent_update": "moderators: someone accepted or refused (refusals are visible)",
    "recording.started": "everyone: recording runs (show the indicator); who is left out",
    "recording.stopped": "everyone: recording ended, how many files",
    "casefile.updated": "participants: the case file changed (a document, a signature, a file)",
    "qa.updated": "everyone: the open questions, most upvoted first",
    "room.promoted": "you: you may now speak (publish), or no longer",
    "session.ended": "you: your account was disabled, you logged out or your token ran out "
    "(reason); the connection is closed",
}
