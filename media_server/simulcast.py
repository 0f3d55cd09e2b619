"""Simulcast negotiation (RFC 8853, RFC 8851) that aiortc does not do.

A browser sends several encodings of one camera only when the answer has
`a=rid:<id> recv` for each and `a=simulcast:recv <ids>`, and the RID header
extension is accepted. aiortc writes neither line, so the SFU adds them to
aiortc's answer, for the sections whose offer asked for simulcast. The
encodings then arrive on one receiver, one SSRC each, told apart by the
RID header extension (see `producer.Layers`).
"""

import re

from . import sdp_sections
from .aiortc_internals import RID_URI

# Three encodings: about 180p, 360p and 720p of a camera. More cost the
# publisher's uplink without giving a subscriber anything it could choose.
MAX_LAYERS = 3
# What a browser is asked to send of its camera (RTCRtpEncodingParameters,
# lowest first): a district link of 300 kbit/s carries the first beside audio.
CAMERA_ENCODINGS: tuple[dict[str, object], ...] = (
    {"rid": "q", "scaleResolutionDownBy": 4, "maxBitrate": 120_000},
    {"rid": "h", "scaleResolutionDownBy": 2, "maxBitrate": 500_000},
    {"rid": "f", "maxBitrate": 1_500_000},
)
_RID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


def offered_layers(section: str) -> list[str]:
    """The RIDs an offer's section sends, in its a=simulcast order; [] if none.

    Only the first alternative of each encoding is taken, paused ones
    (`~rid`) are left out, and at most MAX_LAYERS.
    """
    line = re.search(r"^a=simulcast:send (\S+)", section, re.MULTILINE)
    if line is None or section.startswith("m=audio"):
        return []
    declared = set(re.findall(r"^a=rid:(\S+) send\b", section, re.MULTILINE))
    layers = []
    for alternatives in line.group(1).split(";"):
        rid = alternatives.split(",")[0]
        if rid.startswith("~") or not _RID.match(rid) or rid not in declared:
            continue
        if rid not in layers:
            layers.append(rid)
    return layers[:MAX_LAYERS] if len(layers) > 1 else []


def answer_simulcast(offer: str, answer: str) -> tuple[str, dict[str, list[str]]]:
    """`answer` with the receive side of each section's simulcast, and the RIDs
    accepted per mid (lowest quality first is the browser's order; the producer
    orders them by what it measures)."""
    _, offered = sdp_sections.sections(offer)
    layers_by_mid = {}
    for section in offered:
        mid = sdp_sections.mid(section)
        layers = offered_layers(section)
        if mid is not None and layers:
            layers_by_mid[mid] = layers
    if not layers_by_mid:
        return answer, {}
    newline = sdp_sections.NEWLINE
    head, sections = sdp_sections.sections(answer)
    accepted: dict[str, list[str]] = {}
    out = []
    for section in sections:
        mid = sdp_sections.mid(section)
        wanted = layers_by_mid.get(mid or "")
        rejected = section.startswith("m=video 0 ")
        if mid is not None and wanted and not rejected and RID_URI in section:
            lines = section.rstrip(newline).split(newline)
            lines += [f"a=rid:{rid} recv" for rid in wanted]
            lines.append("a=simulcast:recv " + ";".join(wanted))
            section = newline.join(lines) + (newline if section.endswith(newline) else "")
            accepted[mid] = wanted
        out.append(section)
    return sdp_sections.join(head, out), accepted
