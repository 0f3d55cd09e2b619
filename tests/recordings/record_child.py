"""A recording server in its own process, for the SIGKILL test.

Runs the SFU, one publishing aiortc client and a Recorder of its audio
and video, and prints every 50 ms, flushed, until killed:
`<video frames sent> <audio frames sent since recording started>`, counted
at the publisher, so that the test measures loss against what was sent,
whatever is still queued inside the server.
"""

import asyncio
import sys
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).parents[1] / "media_server"))
sys.path.insert(0, str(Path(__file__).parents[2]))

from sfu_clients import Harness, NumberedVideoTrack, ToneTrack, wait_for

from media_server.api import MediaConfig
from media_server.events import ProducerAdded
from recordings.recorder import Recorder


class CountedTone(ToneTrack):
    def __init__(self) -> None:
        super().__init__(loud=True)
        self.frames_sent = 0

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        self.frames_sent += 1
        return frame


async def main(directory: Path) -> None:
    harness = Harness(MediaConfig(media_timeout=60.0))
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    audio, video = CountedTone(), NumberedVideoTrack(base=0)
    await alice.publish(audio, video)
    await wait_for(lambda: sum(isinstance(e, ProducerAdded) for e in harness.events) == 2)
    recorder = Recorder(harness.server, directory)
    for event in harness.events:
        if isinstance(event, ProducerAdded):
            await recorder.start("r", event.peer_id, event.producer_id, event.kind)
    audio_at_start = audio.frames_sent
    while True:
        print(video.count, audio.frames_sent - audio_at_start, flush=True)
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
