"""What a page of the call gets, from getStats(): the sampling script and the sums.

A sample is one poll of one page (:data:`PAGE_STATS`): its inbound and outbound
RTP streams and selected candidate pairs, over every open RTCPeerConnection the
page made (``window.__pcs``, kept by test_call_browser.COUNT_PEER_CONNECTIONS).
A stream's key is the connection's index and the stat's id, so that a page that
starts its media over counts the new connection's streams from zero instead of
subtracting them from the old ones. Inbound streams name their publisher: the
participant id of the <video> whose stream holds the track (media.js gives each
remote stream the publisher's id).

Rates come from cumulative counters (frames decoded, bytes sent) between one
sample and the next, not from Chrome's own ``framesPerSecond``, which is absent
while a picture is frozen.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

Sample = dict[str, Any]  # one poll: {"at": s since the scenario began, "inbound": [...], ...}
Stream = dict[str, Any]

PAGE_STATS = """async () => {
  const owner = new Map();
  for (const v of document.querySelectorAll("video[data-participant]")) {
    if (v.closest("figure[data-self]") || !v.srcObject) continue;
    for (const t of v.srcObject.getTracks()) owner.set(t.id, v.dataset.participant);
  }
  const out = { inbound: [], outbound: [], pairs: [] };
  const pcs = window.__pcs ?? [];
  for (let i = 0; i < pcs.length; i++) {
    const pc = pcs[i];
    if (pc.connectionState === "closed") continue;
    const stats = await pc.getStats();
    stats.forEach((s) => {
      const key = `${i}:${s.id}`;
      if (s.type === "inbound-rtp") {
        out.inbound.push({
          key, kind: s.kind, who: owner.get(s.trackIdentifier) ?? null,
          framesDecoded: s.framesDecoded ?? 0, height: s.frameHeight ?? null,
          freezeCount: s.freezeCount ?? 0, freezeSeconds: s.totalFreezesDuration ?? 0,
          packetsLost: Math.max(0, s.packetsLost ?? 0), packetsReceived: s.packetsReceived ?? 0,
          concealed: s.concealedSamples ?? 0, samples: s.totalSamplesReceived ?? 0,
        });
      } else if (s.type === "outbound-rtp" && s.kind === "video") {
        out.outbound.push({
          key, targetBitrate: s.targetBitrate ?? null, limit: s.qualityLimitationReason ?? null,
          height: s.frameHeight ?? null, fps: s.framesPerSecond ?? null,
          bytesSent: s.bytesSent ?? 0, framesSent: s.framesSent ?? 0,
        });
      } else if (s.type === "transport" && s.selectedCandidatePairId) {
        const pair = stats.get(s.selectedCandidatePairId);
        const local = pair ? stats.get(pair.localCandidateId) : null;
        const remote = pair ? stats.get(pair.remoteCandidateId) : null;
        out.pairs.push({
          connection: pc.connectionState,
          local: local ? `${local.address}:${local.port}/${local.protocol}` : null,
          remoteAddress: remote ? remote.address : null,
          rtt: pair?.currentRoundTripTime ?? null,
          available: pair?.availableOutgoingBitrate ?? null,
        });
      }
    });
  }
  return out;
}"""

# The doctor's inbound counters only, cheap enough to poll every 100 ms after a
# restore: frames decoded per video stream, samples really heard (not concealed)
# per audio stream.
ADVANCE_COUNTERS = """async () => {
  const video = {}, audio = {};
  const pcs = window.__pcs ?? [];
  for (let i = 0; i < pcs.length; i++) {
    if (pcs[i].connectionState === "closed") continue;
    (await pcs[i].getStats()).forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      const key = `${i}:${s.id}`;
      if (s.kind === "video") video[key] = s.framesDecoded ?? 0;
      else audio[key] = (s.totalSamplesReceived ?? 0) - (s.concealedSamples ?? 0);
    });
  }
  return { video, audio };
}"""


def advanced(now: dict[str, float], mark: dict[str, float]) -> float:
    """How far counters went past a mark; a stream new since the mark counts from 0."""
    return sum(max(0.0, value - mark.get(key, 0.0)) for key, value in now.items())


# --- sums over a window -------------------------------------------------------------

Pick = Callable[[Sample], list[Stream]]


def inbound(kind: str, who: str | None) -> Pick:
    def pick(sample: Sample) -> list[Stream]:
        return [s for s in sample["inbound"] if s["kind"] == kind and s["who"] == who]

    return pick


def outbound(sample: Sample) -> list[Stream]:
    return list(sample["outbound"])


def best_outbound(sample: Sample) -> list[Stream]:
    """The encoding sent at the largest size (simulcast sends three)."""
    sized = [s for s in sample["outbound"] if s["height"]]
    return [max(sized, key=lambda s: s["height"])] if sized else []


def deltas(samples: list[Sample], pick: Pick, field: str) -> list[tuple[float, float, float]]:
    """(at, seconds, increase) from each sample to the next, summed over the streams."""
    out = []
    for before, after in itertools.pairwise(samples):
        previous = {s["key"]: s[field] for s in pick(before)}
        increase = sum(max(0.0, s[field] - previous.get(s["key"], 0.0)) for s in pick(after))
        out.append((after["at"], after["at"] - before["at"], increase))
    return out


def in_window(at: float, window: tuple[float, float]) -> bool:
    return window[0] < at <= window[1]


def total(samples: list[Sample], pick: Pick, field: str, window: tuple[float, float]) -> float:
    return sum(d for at, _, d in deltas(samples, pick, field) if in_window(at, window))


def median_rate(
    samples: list[Sample], pick: Pick, field: str, window: tuple[float, float]
) -> float | None:
    """The median over the window of the per-poll rate (increase per second)."""
    rates = [d / dt for at, dt, d in deltas(samples, pick, field) if in_window(at, window) and dt]
    return round(statistics.median(rates), 1) if rates else None


def values(samples: list[Sample], pick: Pick, field: str, window: tuple[float, float]) -> list[Any]:
    return [
        s[field]
        for sample in samples
        if in_window(sample["at"], window)
        for s in pick(sample)
        if s[field] is not None
    ]


def median(found: Iterable[float]) -> float | None:
    listed = list(found)
    return round(statistics.median(listed), 1) if listed else None


def median_int(found: Iterable[float]) -> int | None:
    value = median(found)
    return round(value) if value is not None else None


def most_common(found: Iterable[str]) -> str | None:
    counted = Counter(found).most_common(1)
    return counted[0][0] if counted else None


def pct(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def video_in(samples: list[Sample], who: str, window: tuple[float, float]) -> dict[str, Any]:
    pick = inbound("video", who)
    lost = total(samples, pick, "packetsLost", window)
    received = total(samples, pick, "packetsReceived", window)
    return {
        "fps": median_rate(samples, pick, "framesDecoded", window),
        "height": median_int(values(samples, pick, "height", window)),
        "freeze_s": round(total(samples, pick, "freezeSeconds", window), 1),
        "freezes": int(total(samples, pick, "freezeCount", window)),
        "packets_lost": int(lost),
        "packets_received": int(received),
        "loss_pct": pct(lost, lost + received),
    }


def audio_in(samples: list[Sample], who: str, window: tuple[float, float]) -> dict[str, Any]:
    pick = inbound("audio", who)
    concealed = total(samples, pick, "concealed", window)
    heard = total(samples, pick, "samples", window)
    return {"concealed_pct": pct(concealed, heard), "samples": int(heard)}


def video_out(samples: list[Sample], window: tuple[float, float]) -> dict[str, Any]:
    rate = median_rate(samples, outbound, "bytesSent", window)
    targets = values(samples, outbound, "targetBitrate", window)
    target = median(targets)
    return {
        "kbit_s": round(rate * 8 / 1000) if rate is not None else None,
        "target_kbit_s": round(target / 1000) if target is not None else None,
        "limit": most_common(values(samples, outbound, "limit", window)),
        "height": median_int(values(samples, outbound, "height", window)),
        "fps": median(values(samples, outbound, "fps", window)),
        "best_height": median_int(values(samples, best_outbound, "height", window)),
        "best_fps": median(values(samples, best_outbound, "fps", window)),
    }


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return round(value / baseline, 2)
