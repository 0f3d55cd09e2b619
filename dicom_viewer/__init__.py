"""DICOM objects turned into what a consultation room shows.

One module per job; import what you need from it (this package imports
nothing on its own, so using one part does not load pynetdicom or GDCM):

- ``validate``: ``validate(bytes | path, IngestLimits) -> Accepted | Refused``
  (never force-read; declared sizes checked before decoding; thread-safe,
  no lock). Before pydicom parses: ``deflate_guard`` bounds inflation,
  ``element_scan`` walks headers (counts, nesting, truncation),
  ``codestream`` compares each compressed frame's header with the file.
- ``ingest``, ``index``, ``storage``: keep accepted objects in a
  content-addressed ``BlobStore`` and index them by study/series/instance.
- ``service``: ``ImagingService``, the facade the control plane calls
  (render, thumbnail, pixel value, cine frame, ECG by blob SHA-256).
- ``render``, ``lut``, ``presets``, ``ordering``, ``measure``: pixels to
  8-bit PNG/WebP, windows and presets, slice order, measurements.
- ``cine``: frame rate and JPEG-baseline frames as stored.
- ``ecg``: 12-lead waveforms (in µV, from each channel's unit, see
  ``waveform_units``) and annotations as plain data.
- ``identity``: ``name_tokens`` to compare DICOM and free-text names.
- ``view_state``: versioned shared viewer state per room and object.
- ``scp``: DIMSE C-STORE/C-ECHO receiver.
- ``qido``: QIDO-RS matching and the DICOM JSON model.
- ``deidentify``: PS3.15 basic-profile de-identification for sharing.

It never imports ``signalling`` or ``media_server``.
"""
