"""A recording server in its own process, for the SIGKILL test.

Runs the SFU, one publishing aiortc client and a Recorder of its audio
and video, and prints `<video frames> <audio frames>` written so far every
50 ms, flushed, until killed.
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "media_server"))
sys.path.insert(0, str(Path(__file__).parents[2]))

from sfu_clients import Harness, NumberedVideoTrack, ToneTrack, wait_for

from media_server.api import MediaConfig
from media_server.events import ProducerAdded
from recordings.recorder import Recorder


async def main(directory: Path) -> None:
    harness = Harness(MediaConfig(media_timeout=60.0))
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    await alice.publish(ToneTrack(loud=True), NumberedVideoTrack(base=0))
    await wait_for(lambda: sum(isinstance(e, ProducerAdded) for e in harness.events) == 2)
    recorder = Recorder(harness.server, directory)
    for event in harness.events:
        if isinstance(event, ProducerAdded):
            await recorder.start("r", event.peer_id, event.producer_id, event.kind)
    kinds = {e.producer_id: e.kind for e in harness.events if isinstance(e, ProducerAdded)}
    while True:
        written = {kinds[p]: n for p, n in recorder.frames_written("r").items()}
        print(written["video"], written["audio"], flush=True)
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
