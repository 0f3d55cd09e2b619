"""The composite of a recorded session shows both participants and carries their audio."""

from pathlib import Path

import av
import numpy as np
import pytest
from sfu_clients import Harness, read_number, requires_network
from test_rec_session import record_two_party

from recordings.composite import CELL_HEIGHT, CELL_WIDTH, CompositeJob
from recordings.finish import sha256_of

pytestmark = [requires_network, pytest.mark.timeout(120)]


async def test_composite_has_both_participants(harness: Harness, tmp_path: Path) -> None:
    recorder, session = await record_two_party(harness, tmp_path)
    infos = await recorder.stop_room("r")
    sidecars = [tmp_path / "r" / Path(i.media).with_suffix(".json") for i in infos]

    out = tmp_path / "composite.webm"
    job = CompositeJob(sidecars, out)
    assert job.progress == 0.0
    job.start()
    facts = await job.wait()
    assert job.progress == 1.0
    assert facts.sha256 == sha256_of(out)
    assert abs(facts.duration - session) <= 0.5

    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "vp8"
        assert container.streams.audio[0].codec_context.name == "opus"
        pictures = list(container.decode(video=0))
    with av.open(str(out)) as container:
        container_rate = container.streams.audio[0].codec_context.sample_rate
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert pictures[0].width == 2 * CELL_WIDTH and pictures[0].height == CELL_HEIGHT

    # both cells carry their sender's picture: its chroma and its running counter
    middle = pictures[len(pictures) // 2].to_ndarray(format="rgb24")
    bases = []
    counters = []
    for column in range(2):
        cell = middle[:, column * CELL_WIDTH : (column + 1) * CELL_WIDTH]
        number, base = read_number(
            av.VideoFrame.from_ndarray(np.ascontiguousarray(cell), format="rgb24")
        )
        bases.append(base)
        counters.append(number)
    # (bob's chroma comes back weaker: the RGB canvas clips it)
    low, high = sorted(bases)
    assert abs(low) <= 8 and high >= 20, bases
    assert all(n > 0 for n in counters)
    # the tones are there, mixed: alice's 440 Hz and bob's 660 Hz
    signal = pcm.astype(np.float64) / (1.0 if pcm.dtype.kind == "f" else 32768)
    assert float(np.sqrt(np.mean(signal**2))) > 0.05
    spectrum = np.abs(np.fft.rfft(signal))
    hz = np.fft.rfftfreq(len(signal), 1 / container_rate)
    noise = float(np.median(spectrum))
    for tone in (440.0, 660.0):
        near = spectrum[(hz > tone - 5) & (hz < tone + 5)]
        assert float(near.max()) > 100 * noise, (tone, float(near.max()), noise)
