"""Memory of a large STOW-RS: does the server's peak grow with the body?

The platform runs as its own process (`telehealth serve`, SQLite, blob store
on disk). One consultation receives, in one STOW-RS request each, a small
body (`--small-mb`, the baseline of this run) and then a large one
(`--large-mb`, 300 MB by default: a CT of ~600 slices of 512x512, built from
pydicom-data's 693_UNCR.dcm with new UIDs). Parts are spooled to disk and
filed one at a time, so the peak resident memory (VmHWM of the server) should
rise by about the same for both; it used to rise by twice the body.

Printed: the peak's growth for each body and their ratio (large / small);
a ratio near 1 means memory does not follow the body size. The last line is
JSON: {"small_mb", "large_mb", "small_growth_mb", "large_growth_mb", "ratio"}.

Usage: .venv/bin/python bench/stow_memory.py [--small-mb 30] [--large-mb 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dicom_ingest import Server, build_series, prepare, warm_up

MB = 1024 * 1024


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc")


async def body(paths: list[Path], boundary: str) -> AsyncIterator[bytes]:
    """The multipart body streamed from the files: the client holds one slice at a time."""
    for path in paths:
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        yield await asyncio.to_thread(path.read_bytes)
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


async def stow(http: aiohttp.ClientSession, url: str, paths: list[Path]) -> int:
    boundary = "stowmemorybench"
    headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'}
    async with http.post(url, data=body(paths, boundary), headers=headers) as answer:
        result = await answer.json(content_type=None)
        assert answer.status == 200, (answer.status, str(result)[:500])
        return len(result["00081199"]["Value"])


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as work:
        slice_mb = 0.5  # 693_UNCR.dcm: 512x512x16 bits
        small_dir, large_dir = Path(work) / "small", Path(work) / "large"
        small_dir.mkdir()
        large_dir.mkdir()
        small = build_series(int(args.small_mb / slice_mb), small_dir)
        large = build_series(int(args.large_mb / slice_mb), large_dir)
        sizes = [sum(p.stat().st_size for p in s) / MB for s in (small, large)]
        data_dir = Path(work) / "data"
        consultation, tokens = await prepare(data_dir, 1)
        server = Server(data_dir)
        try:
            await server.ready()
            url = f"{server.url}/dicomweb/consultations/{consultation}/studies"
            headers = {"Authorization": f"Bearer {tokens[0]}"}
            timeout = aiohttp.ClientTimeout(total=3600)
            async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
                await warm_up(http, url, server.url)
                growth = []
                for paths, size in zip((small, large), sizes, strict=True):
                    before = peak_mb(server.process.pid)
                    stored = await stow(http, url, paths)
                    after = peak_mb(server.process.pid)
                    growth.append(after - before)
                    print(
                        f"STOW of {size:.0f} MB ({stored} instances): "
                        f"server peak {before:.0f} -> {after:.0f} MB (+{after - before:.0f} MB)"
                    )
        finally:
            server.stop()
    # The small body comes first, so its growth includes warming; never divide by ~0.
    ratio = growth[1] / max(growth[0], 1.0)
    times = sizes[1] / sizes[0]
    print(f"peak growth, large / small body: {ratio:.2f} (the bodies differ {times:.0f}x)")
    print(
        json.dumps(
            {
                "small_mb": round(sizes[0], 1),
                "large_mb": round(sizes[1], 1),
                "small_growth_mb": round(growth[0], 1),
                "large_growth_mb": round(growth[1], 1),
                "ratio": round(ratio, 2),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-mb", type=float, default=30)
    parser.add_argument("--large-mb", type=float, default=300)
    asyncio.run(main(parser.parse_args()))
