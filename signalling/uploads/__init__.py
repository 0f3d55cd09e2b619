"""Resumable uploads (tus 1.0: core, creation, termination, expiration).

A file sent over a link that drops is kept as far as it arrived and
continued from there; a completed upload is then filed by the imaging and
attachment routes, which name it instead of sending the bytes again.
"""
