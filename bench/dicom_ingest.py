"""Imaging benchmark: STOW-RS ingest of a 100-slice CT, and view-state sync.

A 100-slice 512x512 CT series is built from pydicom-data's 693_UNCR.dcm
(new Study/Series/SOP Instance UIDs, positions 1 mm apart) in a temporary
directory. The platform runs as its own process (`telehealth serve`, SQLite,
blob store on disk); this process is the client.

Ingest (on a warm server: one other small CT is stored and rendered first,
so that lazy imports and first connections are not counted): the series
is sent through STOW-RS in requests of `--batch`
instances, `--concurrency` at a time. As each request is answered, every
slice it stored is rendered once through the viewer's route
(`/api/imaging/instances/<uid>/rendered`, PNG with the file's window):
- first_slice_ms: start until the first slice's PNG has arrived,
- all_slices_ms: start until every slice's PNG has arrived,
- ingest_slices_per_s: 100 / time until the last STOW answer.

Sync: a presenter and `--viewers` socket.io viewers (distinct clinicians)
join the consultation's room; the presenter opens the series and sends
`--updates` view.update events (next slice and a window), one every 20 ms
(a client sends at most at display rate; the server allows 60 view events/s);
each viewer notes when the matching `view.state` arrives. Delivery time is
arrival minus send (same process, same monotonic clock): p50 and p95 over
all viewers and updates.

Orthanc reference (same run): if the Debian `Orthanc` and its DICOMweb
plugin are installed, the same 100 files are STOWed into Orthanc in the same
batches, inside a loopback-only network namespace (its HTTP port cannot be
bound to one address), and its slices/s is printed.

The last line printed is a JSON object:
{"ingest_slices_per_s", "first_slice_ms", "all_slices_ms", "sync_p50_ms", "sync_p95_ms"}

Usage: .venv/bin/python bench/dicom_ingest.py [--slices 100] [--viewers 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from signalling.auth.tokens import Audience
from signalling.db.models import (
    Consultation,
    ConsultKind,
    ConsultStatus,
    FacilityLevel,
    Participant,
    Role,
    Urgency,
)
from signalling.network.facilities import add_facility
from signalling.network.staff import add_user
from signalling.platform import open_platform
from signalling.settings import load_settings

PASSWORD = "bench-password-123"  # noqa: S105 (a throw-away database)
ORTHANC_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def build_series(slices: int, out: Path) -> list[Path]:
    """The CT slice copied `slices` times with new UIDs, 1 mm apart."""
    source = get_testdata_file("693_UNCR.dcm", download=False)
    if source is None:
        raise SystemExit("pydicom-data's 693_UNCR.dcm is not installed")
    study, series = generate_uid(), generate_uid()
    paths = []
    for i in range(slices):
        ds = dcmread(source)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        x, y, _ = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, -float(i)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = -float(i)
        path = out / f"slice{i:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def stow_body(files: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = BytesIO()
    for data in files:
        body.write(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        body.write(data + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f'multipart/related; type="application/dicom"; boundary={boundary}'


def batches(files: list[bytes], size: int) -> list[list[bytes]]:
    return [files[i : i + size] for i in range(0, len(files), size)]


# The platform --------------------------------------------------------------------


async def prepare(data_dir: Path, people: int) -> tuple[str, list[str]]:
    """A live imaging consultation with `people` clinicians; their API tokens."""
    settings = load_settings(None, data_dir=data_dir)
    async with open_platform(settings, migrate=True) as platform:
        async with platform.db() as db:
            facility = await add_facility(
                db, code="BENCH", name="Bench", level=FacilityLevel.CENTRAL, province="VN"
            )
            users = [
                await add_user(
                    db,
                    username=f"viewer{i}",
                    full_name=f"Viewer {i}",
                    role=Role.DOCTOR,
                    password=PASSWORD,
                    facility=facility,
                )
                for i in range(people)
            ]
            consultation = Consultation(
                id=str(uuid.uuid4()),
                kind=ConsultKind.IMAGING,
                specialty="radiology",
                urgency=Urgency.ROUTINE,
                question="benchmark",
                requester_id=users[0].id,
                facility_id=facility.id,
                status=ConsultStatus.LIVE,
                room=f"bench-{uuid.uuid4().hex[:12]}",
            )
            db.add(consultation)
            await db.flush()
            for i, user in enumerate(users):
                part = "requester" if i == 0 else "invited"
                db.add(Participant(consultation_id=consultation.id, user_id=user.id, part=part))
            await db.commit()
            tokens = [
                platform.signer.issue(
                    subject=f"user:{user.id}", audience=Audience.API, ttl=timedelta(hours=1)
                )[0]
                for user in users
            ]
            return consultation.id, tokens


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "signalling", "serve"),
                *("--data-dir", str(data_dir), "--port", str(self.port)),
            ],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "TELEHEALTH_LOG_LEVEL": "WARNING"},
        )

    async def ready(self) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if self.process.poll() is not None:
                    raise SystemExit("the server exited while starting")
                try:
                    async with http.get(self.url + "/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise SystemExit("the server did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


async def warm_up(http: aiohttp.ClientSession, stow_url: str, base_url: str) -> None:
    """Store and render another study once: the figures are of a running server."""
    small = get_testdata_file("CT_small.dcm", download=False)
    assert small is not None
    body, content_type = stow_body([Path(str(small)).read_bytes()])  # noqa: ASYNC240
    async with http.post(stow_url, data=body, headers={"Content-Type": content_type}) as answer:
        assert answer.status == 200, await answer.text()
        sop = (await answer.json(content_type=None))["00081199"]["Value"][0]["00081155"]
    url = f"{base_url}/api/imaging/instances/{sop['Value'][0]}/rendered"
    async with http.get(url) as response:
        assert response.status == 200
        await response.read()


async def ingest(
    server: Server, consultation: str, token: str, files: list[bytes], args: argparse.Namespace
) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    stow_url = f"{server.url}/dicomweb/consultations/{consultation}/studies"
    first_png: list[float] = []
    stow_done: list[float] = []
    rendered = 0
    # uploads and the viewer's renders go on side by side, as in a browser
    stowing = asyncio.Semaphore(args.concurrency)
    rendering = asyncio.Semaphore(args.concurrency)
    async with aiohttp.ClientSession(headers=headers) as http:

        async def render(sop: str) -> None:
            nonlocal rendered
            url = f"{server.url}/api/imaging/instances/{sop}/rendered"
            async with http.get(url) as response:
                assert response.status == 200, await response.text()
                await response.read()
            rendered += 1
            if not first_png:
                first_png.append(time.perf_counter())

        async def send(body: bytes, content_type: str) -> list[str]:
            async with stowing:
                async with http.post(
                    stow_url, data=body, headers={"Content-Type": content_type}
                ) as response:
                    answer = await response.json(content_type=None)
                    assert response.status == 200, answer
            stow_done.append(time.perf_counter())
            sops = [item["00081155"]["Value"][0] for item in answer["00081199"]["Value"]]
            # render what this request stored, at most `concurrency` at a time
            for sop in sops:
                async with rendering:
                    await render(sop)
            return sops

        await warm_up(http, stow_url, server.url)
        # the sender has its files ready: bodies are built before the clock starts
        bodies = [stow_body(batch) for batch in batches(files, args.batch)]
        start = time.perf_counter()
        await asyncio.gather(*(send(*body) for body in bodies))
        end = time.perf_counter()
    assert rendered == len(files)
    return {
        "ingest_slices_per_s": len(files) / (max(stow_done) - start),
        "first_slice_ms": (first_png[0] - start) * 1000,
        "first_stow_ms": (min(stow_done) - start) * 1000,
        "all_slices_ms": (end - start) * 1000,
    }


async def sync(
    server: Server, consultation: str, tokens: list[str], series_uid: str, updates: int
) -> list[float]:
    sent: dict[int, float] = {}
    delays: list[float] = []
    everyone_has: dict[int, int] = {}
    last = asyncio.Event()
    clients: list[socketio.AsyncClient] = []
    http = aiohttp.ClientSession()
    try:
        for index, token in enumerate(tokens):
            client = socketio.AsyncClient(reconnection=False)
            if index > 0:

                def on_state(state: dict[str, Any]) -> None:
                    version = int(state["version"])
                    if version in sent:
                        delays.append((time.perf_counter() - sent[version]) * 1000)
                        everyone_has[version] = everyone_has.get(version, 0) + 1
                        if version == updates and everyone_has[version] == len(tokens) - 1:
                            last.set()

                client.on("view.state", on_state)
            await client.connect(
                server.url, auth={"token": token}, transports=["websocket"], wait_timeout=10
            )
            url = f"{server.url}/api/consultations/{consultation}/token"
            async with http.post(url, headers={"Authorization": f"Bearer {token}"}) as response:
                room_token = (await response.json())["token"]
            ack = await client.call("room.join", {"token": room_token}, timeout=10)
            assert ack.get("state") == "joined", ack
            clients.append(client)
        presenter = clients[0]
        ack = await presenter.call(
            "view.open", {"object_id": series_uid, "kind": "series"}, timeout=10
        )
        frames = int(ack["state"]["frames"])
        await asyncio.sleep(0.5)  # let the open's broadcast settle
        for version in range(1, updates + 1):
            update = {
                "version": version,
                "frame": version % frames,
                "window": {"center": 40.0, "width": 100.0 + version},
            }
            sent[version] = time.perf_counter()
            await presenter.emit("view.update", {"object_id": series_uid, "update": update})
            await asyncio.sleep(0.02)
        await asyncio.wait_for(last.wait(), 30)
    finally:
        for client in clients:
            await client.disconnect()
        await http.close()
    expected = updates * (len(tokens) - 1)
    assert len(delays) == expected, (len(delays), expected)
    return delays


# Orthanc reference ------------------------------------------------------------------


async def orthanc_stow(files_dir: Path, batch: int, concurrency: int) -> dict[str, Any]:
    """Runs inside the namespace: Orthanc with its DICOMweb plugin, the same STOW."""
    files = [p.read_bytes() for p in sorted(files_dir.glob("*.dcm"))]  # noqa: ASYNC240
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        config = {
            "Name": "bench",
            "StorageDirectory": f"{work}/db",
            "IndexDirectory": f"{work}/db",
            "HttpPort": port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": False,
            "Plugins": [str(ORTHANC_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        (Path(work) / "orthanc.json").write_text(json.dumps(config))
        orthanc = subprocess.Popen(  # noqa: ASYNC220 (started once, before timing)
            ["Orthanc", f"{work}/orthanc.json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    try:
                        async with http.get(url + "/system") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                semaphore = asyncio.Semaphore(concurrency)

                async def send(body: bytes, content_type: str) -> None:
                    async with semaphore:
                        async with http.post(
                            url + "/dicom-web/studies",
                            data=body,
                            headers={"Content-Type": content_type},
                        ) as response:
                            assert response.status == 200, await response.text()
                            await response.read()

                bodies = [stow_body(chunk) for chunk in batches(files, batch)]
                start = time.perf_counter()
                await asyncio.gather(*(send(*body) for body in bodies))
                elapsed = time.perf_counter() - start
        finally:
            orthanc.terminate()
            orthanc.wait(timeout=30)
    return {"orthanc_stow_slices_per_s": len(files) / elapsed, "orthanc_stow_ms": elapsed * 1000}


def orthanc_reference(files_dir: Path, args: argparse.Namespace) -> str:
    if shutil.which("Orthanc") is None or not ORTHANC_PLUGIN.exists():
        return "Orthanc reference: not available (needs the orthanc and orthanc-dicomweb packages)"
    script = (
        f'ip link set lo up && exec "{sys.executable}" "{Path(__file__).resolve()}" '
        f'--orthanc-only "{files_dir}" --batch {args.batch} --concurrency {args.concurrency}'
    )
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return f"Orthanc reference: failed ({done.stderr.strip().splitlines()[-1:]})"
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return (
        f"Orthanc reference (same files, same STOW batches): "
        f"{figures['orthanc_stow_slices_per_s']:.1f} slices/s, "
        f"all stored in {figures['orthanc_stow_ms']:.0f} ms"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as work:
        series_dir = Path(work) / "series"
        series_dir.mkdir()
        paths = build_series(args.slices, series_dir)
        files = [p.read_bytes() for p in paths]
        series_uid = str(dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID)
        print(f"built {len(files)} slices of 512x512 CT ({sum(map(len, files)) >> 20} MB)")

        data_dir = Path(work) / "data"
        consultation, tokens = await prepare(data_dir, args.viewers + 1)
        server = Server(data_dir)
        try:
            await server.ready()
            figures = await ingest(server, consultation, tokens[0], files, args)
            print(
                f"ingest: first slice rendered {figures['first_slice_ms']:.0f} ms "
                f"({figures.pop('first_stow_ms'):.0f} ms to the first STOW answer), "
                f"all {len(files)} rendered {figures['all_slices_ms']:.0f} ms, "
                f"{figures['ingest_slices_per_s']:.1f} slices/s stored"
            )
            delays = await sync(server, consultation, tokens, series_uid, args.updates)
            figures["sync_p50_ms"] = statistics.median(delays)
            figures["sync_p95_ms"] = percentile(delays, 0.95)
            print(
                f"sync to {args.viewers} viewers, {args.updates} updates: "
                f"p50 {figures['sync_p50_ms']:.1f} ms, p95 {figures['sync_p95_ms']:.1f} ms, "
                f"max {max(delays):.1f} ms"
            )
        finally:
            server.stop()
        print(orthanc_reference(series_dir, args))
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--batch", type=int, default=5, help="instances per STOW request")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--orthanc-only", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.orthanc_only is not None:
        result = asyncio.run(
            orthanc_stow(arguments.orthanc_only, arguments.batch, arguments.concurrency)
        )
        print(json.dumps(result))
    else:
        asyncio.run(main(arguments))
