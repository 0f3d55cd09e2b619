"""A DIMSE Storage SCP: modalities and PACS push objects with C-STORE.

Each received object is validated like an upload; accepted ones go to the
caller's callback (the control plane files them in a case file), refused
ones are answered with a failure status and the reason in ErrorComment.
pynetdicom runs each association in its own thread, so the callbacks are
called from those threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from .limits import IngestLimits
from .sop_classes import ACCEPTED_SOP_CLASSES
from .validate import Accepted, Refused, validate

logger = logging.getLogger(__name__)

SUCCESS = 0x0000
# PS3.4 B.2.3: 0xA7xx out of resources, 0xCxxx cannot understand
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000
_ERROR_COMMENT_MAX = 64  # ErrorComment is LO

_NATIVE_SYNTAXES = [
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian,
]
_COMPRESSED_SYNTAXES = [
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.RLELossless,
]


def decodable_transfer_syntaxes() -> list[str]:
    """Transfer syntaxes to accept: native ones, and compressed ones only
    if a decoder is installed, so a sender falls back to one we can show."""
    compressed = [ts for ts in _COMPRESSED_SYNTAXES if get_decoder(ts).is_available]
    return [*_NATIVE_SYNTAXES, *compressed]


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent an object over DIMSE."""

    calling_ae_title: str
    address: str
    port: int


AcceptedCallback = Callable[[Accepted, Origin], None]
RefusedCallback = Callable[[Refused, Origin], None]


@dataclass(slots=True)
class StorageSCPConfig:
    ae_title: str = "TELEHEALTH"
    host: str = "127.0.0.1"
    port: int = 11112  # 0 picks a free port
    # None accepts any calling AE title; otherwise only these
    allowed_calling_ae_titles: frozenset[str] | None = None
    maximum_associations: int = 10
    limits: IngestLimits = field(default_factory=IngestLimits)


class StorageSCP:
    """Answers C-ECHO and C-STORE for the SOP classes the viewer shows."""

    def __init__(
        self,
        config: StorageSCPConfig,
        on_accepted: AcceptedCallback,
        on_refused: RefusedCallback | None = None,
    ) -> None:
        self.config = config
        self._on_accepted = on_accepted
        self._on_refused = on_refused
        self._server: ThreadedAssociationServer | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (useful when configured with port 0)."""
        if self._server is None:
            raise RuntimeError("the SCP is not running")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the SCP is already running")
        ae = AE(ae_title=self.config.ae_title)
        ae.require_called_aet = True
        if self.config.allowed_calling_ae_titles is not None:
            ae.require_calling_aet = sorted(self.config.allowed_calling_ae_titles)
        ae.maximum_associations = self.config.maximum_associations
        syntaxes = decodable_transfer_syntaxes()
        ae.add_supported_context(Verification)
        for sop_class in ACCEPTED_SOP_CLASSES:
            ae.add_supported_context(sop_class, syntaxes)
        self._server = ae.start_server(
            (self.config.host, self.config.port),
            block=False,
            evt_handlers=[(evt.EVT_C_STORE, self._handle_store)],
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> StorageSCP:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle_store(self, event: Any) -> Dataset | int:
        assoc = event.assoc
        origin = Origin(
            calling_ae_title=str(assoc.requestor.ae_title).strip(),
            address=str(assoc.requestor.address),
            port=int(assoc.requestor.port),
        )
        try:
            data: bytes = event.encoded_dataset(include_meta=True)
        except Exception as exc:  # a dataset pynetdicom cannot encode
            return _failure(STATUS_CANNOT_UNDERSTAND, f"unreadable data set: {exc}")
        result = validate(data, self.config.limits)
        if isinstance(result, Refused):
            logger.info("C-STORE from %s refused: %s", origin.calling_ae_title, result.reason)
            if self._on_refused is not None:
                self._on_refused(result, origin)
            return _failure(STATUS_CANNOT_UNDERSTAND, result.reason)
        try:
            self._on_accepted(result, origin)
        except StoreRefused as refusal:
            # the store's own rule (an owner's UIDs, another patient): expected, not a fault
            logger.info("C-STORE from %s refused: %s", origin.calling_ae_title, refusal)
            return _failure(STATUS_CANNOT_UNDERSTAND, str(refusal))
        except Exception:
            # the object was valid but could not be kept: the sender may retry
            logger.exception("storing a C-STORE object failed")
            return _failure(STATUS_OUT_OF_RESOURCES, "the object could not be stored")
        return SUCCESS


class StoreRefused(Exception):
    """Raised by the on_accepted hook for a valid object its store will not keep
    (answered as a failure with the reason; a retry would not help)."""


def _failure(status: int, comment: str) -> Dataset:
    reply = Dataset()
    reply.Status = status
    reply.ErrorComment = comment[:_ERROR_COMMENT_MAX]
    return reply
