"""Imaging in the control plane: the persisted index, who may see a study,
filing accepted objects, and the DIMSE receiver's bridge.

The pixels and the DICOM rules live in ``dicom_viewer``; this package only
adds what needs users, consultations and the database.
"""
