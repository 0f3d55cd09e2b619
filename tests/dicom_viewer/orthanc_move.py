"""Run inside a loopback-only network namespace by test_dicom_orthanc.py.

Starts the platform's Storage SCP and a real Orthanc, C-STOREs the given
files into Orthanc, then asks Orthanc (C-MOVE) to send the study to the
SCP. Prints one JSON line with what the SCP received.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from dicom_viewer.index import ImagingIndex
from dicom_viewer.scp import Origin, StorageSCP, StorageSCPConfig
from dicom_viewer.storage import MemoryBlobStore
from dicom_viewer.validate import Accepted, load_dataset

ORTHANC_AET = "ORTHANC"
SCP_AET = "TELEHEALTH"
SCU_AET = "MODALITY"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_echo(port: int, process: subprocess.Popen[bytes]) -> None:
    ae = AE(ae_title=SCU_AET)
    ae.add_requested_context(Verification)
    for _ in range(300):  # Orthanc needs a moment to open its database
        if process.poll() is not None:
            raise RuntimeError("Orthanc exited while starting")
        assoc = ae.associate("127.0.0.1", port, ae_title=ORTHANC_AET)
        if assoc.is_established:
            assoc.release()
            return
        time.sleep(0.1)
    raise RuntimeError("Orthanc did not answer C-ECHO")


def main(paths: list[Path]) -> None:
    store = MemoryBlobStore()
    index = ImagingIndex()
    origins: list[str] = []
    lock = threading.Lock()

    def accept(accepted: Accepted, origin: Origin) -> None:
        with lock:
            blob = store.put_bytes(accepted.data)
            index.add(accepted.info, blob.sha256, len(accepted.data))
            origins.append(origin.calling_ae_title)

    scp = StorageSCP(StorageSCPConfig(ae_title=SCP_AET, port=0), accept)
    scp.start()
    orthanc_port = _free_port()
    with tempfile.TemporaryDirectory() as workdir:
        config = {
            "Name": "interop-test",
            "StorageDirectory": f"{workdir}/db",
            "IndexDirectory": f"{workdir}/db",
            "HttpServerEnabled": False,
            "RemoteAccessAllowed": False,
            "DicomServerEnabled": True,
            "DicomAet": ORTHANC_AET,
            "DicomPort": orthanc_port,
            "DicomModalities": {
                "platform": [SCP_AET, "127.0.0.1", scp.address[1]],
                "modality": [SCU_AET, "127.0.0.1", 104],
            },
            "Plugins": [],
        }
        config_path = Path(workdir) / "orthanc.json"
        config_path.write_text(json.dumps(config))
        orthanc = subprocess.Popen(
            ["Orthanc", str(config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_echo(orthanc_port, orthanc)
            sent = [dcmread(p) for p in paths]
            ae = AE(ae_title=SCU_AET)
            for ds in sent:
                ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
            assoc = ae.associate("127.0.0.1", orthanc_port, ae_title=ORTHANC_AET)
            assert assoc.is_established
            store_status = [assoc.send_c_store(ds).Status for ds in sent]
            assoc.release()

            move_ae = AE(ae_title=SCU_AET)
            move_ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
            assoc = move_ae.associate("127.0.0.1", orthanc_port, ae_title=ORTHANC_AET)
            assert assoc.is_established
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.StudyInstanceUID = sent[0].StudyInstanceUID
            move_status = [
                status.Status
                for status, _ in assoc.send_c_move(
                    query, SCP_AET, StudyRootQueryRetrieveInformationModelMove
                )
                if status
            ]
            assoc.release()
        finally:
            orthanc.terminate()
            orthanc.wait(timeout=30)
            scp.stop()

    # SOP Instance UID -> whether the pixel data arrived unchanged
    received: dict[str, bool] = {}
    for ds in sent:
        record = index.instance(str(ds.SOPInstanceUID))
        if record is not None:
            kept = load_dataset(store.read_bytes(record.blob_sha256))
            received[str(ds.SOPInstanceUID)] = kept.PixelData == ds.PixelData
    print(
        json.dumps(
            {
                "store_status": store_status,
                "move_status": move_status,
                "origins": sorted(set(origins)),
                "received": received,
            }
        )
    )


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
