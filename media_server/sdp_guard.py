"""Checks on session descriptions that come from peers, before aiortc sees them.

aiortc applies a remote description section by section and raises half
way through on some errors, leaving the connection changed; and it
creates a transceiver, with a thread, per m-line. So untrusted SDP is
parsed and checked here first: size, control characters (a NUL or an
escape would reach logs, ids and aiortc's C parts), number of sections,
kinds, ports, ICE and DTLS parameters, and at least one codec the SFU can
forward.
"""

import re
from dataclasses import dataclass

from aiortc import RTCRtpReceiver
from aiortc.sdp import MediaDescription, SessionDescription

from .errors import BadSdp

MAX_SDP_LENGTH = 64 * 1024
MAX_MEDIA_SECTIONS = 32
FORWARDABLE_MIME_TYPES = frozenset({"audio/opus", "video/vp8", "video/h264"})


MAX_PORT = 65535
# C0 controls and DEL, except the CR and LF that end lines (RFC 8866 text is
# bytes without NUL, CR or LF; no WebRTC stack writes other controls either).
_CONTROL = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


# Longest stream or track id taken from a=msid (they become producer and peer ids).
MAX_MSID_ID_LENGTH = 256


@dataclass(frozen=True)
class OfferedMedia:
    mid: str
    kind: str
    direction: str
    port: int
    codecs: frozenset[str] = frozenset()
    """Lower-case mime types offered, e.g. "video/vp8"."""
    stream_id: str | None = None
    """a=msid: the sending MediaStream (a pipe: the origin's publishing peer)."""
    track_id: str | None = None
    """a=msid: the sending track (a pipe: the origin's producer id)."""


def check_description(
    sdp: str,
    expected_type: str,
    max_sections: int = MAX_MEDIA_SECTIONS,
    max_length: int = MAX_SDP_LENGTH,
) -> list[OfferedMedia]:
    """Parse and check `sdp`; raise :class:`BadSdp` with a reason if it is unusable.

    An answer may be as large as the server's own offer, so the limits are
    parameters.
    """
    if not isinstance(sdp, str):
        raise BadSdp("SDP must be a string")
    if len(sdp) > max_length:
        raise BadSdp(f"SDP is longer than {max_length} characters")
    if control := _CONTROL.search(sdp):
        line = sdp.count("\n", 0, control.start()) + 1
        raise BadSdp(f"SDP line {line} holds control character U+{ord(control.group()):04X}")
    if not sdp.lstrip().startswith("v=0"):
        raise BadSdp("SDP must start with v=0")
    sections = sdp.count("\nm=")
    if sections == 0:
        raise BadSdp("SDP has no media section")
    if sections > max_sections:
        raise BadSdp(f"SDP has {sections} media sections, at most {max_sections} allowed")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # the parser raises whatever garbage provokes
        raise BadSdp(f"SDP cannot be parsed: {type(exc).__name__}") from exc

    media_list: list[OfferedMedia] = []
    mids: set[str] = set()
    for index, media in enumerate(description.media):
        where = f"media section {index}"
        if media.kind not in ("audio", "video"):
            raise BadSdp(f"{where}: kind {media.kind!r} is not supported")
        mid = media.rtp.muxId
        if not mid:
            raise BadSdp(f"{where}: a=mid is missing")
        if mid in mids:
            raise BadSdp(f"{where}: a=mid:{mid} is repeated")
        mids.add(mid)
        _check_ports(media, where)
        if media.port == 0:
            # a rejected or stopped section needs nothing else
            media_list.append(OfferedMedia(mid, media.kind, "inactive", 0))
            continue
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadSdp(f"{where}: ICE username fragment or password is missing")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadSdp(f"{where}: DTLS fingerprint is missing")
        if expected_type == "answer" and media.dtls.role not in ("client", "server"):
            raise BadSdp(f"{where}: a=setup must be active or passive in an answer")
        if not media.rtcp_mux:
            raise BadSdp(f"{where}: a=rtcp-mux is required")
        direction = media.direction or "sendrecv"
        if direction not in ("sendrecv", "sendonly", "recvonly", "inactive"):
            raise BadSdp(f"{where}: direction {direction!r} is invalid")
        supported = _supported_mime_types(media.kind)
        codecs = frozenset(codec.mimeType.lower() for codec in media.rtp.codecs)
        if not codecs & supported:
            raise BadSdp(f"{where}: no codec the server can forward")
        stream_id, track_id = _msid(media.msid)
        media_list.append(
            OfferedMedia(mid, media.kind, direction, media.port, codecs, stream_id, track_id)
        )
    return media_list


def _check_ports(media: MediaDescription, where: str) -> None:
    """The m-line's port and every candidate's are TCP/UDP ports (0-65535)."""
    if not 0 <= media.port <= MAX_PORT:
        raise BadSdp(f"{where}: port {media.port} is not between 0 and {MAX_PORT}")
    if media.rtcp_port is not None and not 0 <= media.rtcp_port <= MAX_PORT:
        raise BadSdp(f"{where}: a=rtcp port {media.rtcp_port} is not between 0 and {MAX_PORT}")
    for candidate in media.ice_candidates:
        if not 0 <= candidate.port <= MAX_PORT:
            raise BadSdp(
                f"{where}: candidate port {candidate.port} is not between 0 and {MAX_PORT}"
            )


def _msid(value: str | None) -> tuple[str | None, str | None]:
    """(stream id, track id) of an a=msid line; "-" (no stream) and absence are None.

    A malformed msid reads as absent: only pipes need it, and they say so.
    """
    if not value:
        return None, None
    parts = value.split()
    if not parts or len(parts) > 2 or any(len(part) > MAX_MSID_ID_LENGTH for part in parts):
        return None, None
    stream_id = parts[0] if parts[0] != "-" else None
    track_id = parts[1] if len(parts) == 2 else None
    return stream_id, track_id


def _supported_mime_types(kind: str) -> set[str]:
    capabilities = RTCRtpReceiver.getCapabilities(kind)
    names = {c.mimeType.lower() for c in capabilities.codecs} if capabilities else set()
    return names & FORWARDABLE_MIME_TYPES
