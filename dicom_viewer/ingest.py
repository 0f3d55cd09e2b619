"""Validate, store and index one uploaded object; the batch goes on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .index import ImagingIndex, IndexConflict, InstanceRecord
from .limits import IngestLimits
from .storage import BlobStore
from .validate import Refused, Source, validate


@dataclass(frozen=True, slots=True)
class Stored:
    record: InstanceRecord
    replaced: bool


IngestResult = Stored | Refused


def ingest(
    source: Source,
    store: BlobStore,
    index: ImagingIndex,
    limits: IngestLimits | None = None,
) -> IngestResult:
    """Keep ``source`` if it passes validation; nothing is stored otherwise."""
    result = validate(source, limits)
    if isinstance(result, Refused):
        return result
    try:
        # check first so that a conflicting object is not even stored
        index.check(result.info)
    except IndexConflict as conflict:
        return Refused(f"{conflict}")
    blob = store.put_bytes(result.data)
    indexed = index.add(result.info, blob.sha256, len(result.data))
    return Stored(indexed.record, indexed.replaced is not None)


def ingest_batch(
    sources: Iterable[Source],
    store: BlobStore,
    index: ImagingIndex,
    limits: IngestLimits | None = None,
) -> list[IngestResult]:
    """One result per source, in order; a refused file does not stop the rest."""
    return [ingest(source, store, index, limits) for source in sources]
