"""Long-running fuzzers for the inputs an attacker controls.

Four targets, one module each: the SDP guard (:mod:`fuzz.sdp`), the
socket.io event schemas (:mod:`fuzz.events`), DICOM validation
(:mod:`fuzz.dicom`) and token verification (:mod:`fuzz.tokens`). Each runs
under atheris (libFuzzer, coverage-guided) in a child process of its own,
seeded at run time from real data: ``python -m fuzz <target> --runs N``.
"""
