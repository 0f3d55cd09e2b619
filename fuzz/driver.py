"""One target under atheris, in a process of its own (libFuzzer ends the
process when it is done): ``python -m fuzz.driver <target> ...``.

Each input goes through a wrapper that counts it and sorts what it raised:
a refusal returns, a :class:`~fuzz.findings.Fallback` is counted, a known
finding is counted, anything else is a crash whose first input of each kind
is written with its traceback. Counts go to a small memory-mapped file that
the parent reads after the process ends, since libFuzzer's exit runs no
Python code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import mmap
import resource
import shutil
import struct
import sys
import traceback
from pathlib import Path

import atheris

from .findings import Fallback, known, signature

# module of each target, and the packages whose code atheris instruments for
# coverage (the code under test and the parser behind it)
TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sdp": ("fuzz.sdp", ("media_server", "aiortc.sdp")),
    "events": ("fuzz.events", ("signalling", "dicom_viewer.view_state")),
    "dicom": ("fuzz.dicom", ("dicom_viewer", "pydicom")),
    "tokens": ("fuzz.tokens", ("signalling.auth", "jwt")),
}

# executed, crashes, known findings, fallbacks, peak RSS (KiB) of the
# target's own process and of its finished worker processes
STATS = struct.Struct("<6q")


class Counters:
    def __init__(self, path: Path) -> None:
        path.write_bytes(bytes(STATS.size))
        self._file = path.open("r+b")
        self._map = mmap.mmap(self._file.fileno(), STATS.size)
        self.values = [0] * 6

    def bump(self, index: int) -> None:
        self.values[index] += 1
        STATS.pack_into(self._map, 0, *self.values)

    def peaks(self, own_kib: int, workers_kib: int) -> None:
        self.values[4:6] = [own_kib, workers_kib]
        STATS.pack_into(self._map, 0, *self.values)


def read_counters(path: Path) -> tuple[int, ...]:
    return tuple(STATS.unpack(path.read_bytes()[: STATS.size]))


# growth of the peak RSS worth a look at the input that caused it
_GROWTH_KIB = 32 * 1024
_NOTABLE_GROWTH_KIB = 128 * 1024


def _own_peak_kib() -> int:
    """This process's high-water mark (Linux: KiB); workers are counted apart."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _dictionary_line(token: bytes) -> str:
    return (
        '"'
        + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\x{b:02x}" for b in token)
        + '"'
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fuzz.driver")
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--rss-limit-mb", type=int, required=True)
    parser.add_argument("--timeout", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    module_name, instrumented = TARGETS[args.target]
    with atheris.instrument_imports(include=list(instrumented)):
        target = importlib.import_module(module_name).TARGET

    counters = Counters(args.stats)
    args.artifacts.mkdir(parents=True, exist_ok=True)
    findings_file = args.artifacts / "findings.json"
    seen: dict[str, dict[str, object]] = {}

    def record(kind: str, sig: str, data: bytes, exc: BaseException) -> None:
        entry = seen.get(sig)
        if entry is not None:
            entry["count"] = int(str(entry["count"])) + 1
            findings_file.write_text(json.dumps(seen, indent=2), encoding="utf-8")
            return
        number = len(seen) + 1
        stem = args.artifacts / f"{kind}-{number}"
        stem.with_suffix(".bin").write_bytes(data)
        stem.with_suffix(".txt").write_text(
            sig + "\n\n" + "".join(traceback.format_exception(exc)), encoding="utf-8"
        )
        seen[sig] = {"kind": kind, "input": str(stem.with_suffix(".bin")), "count": 1}
        findings_file.write_text(json.dumps(seen, indent=2), encoding="utf-8")

    rss_limit_kib = args.rss_limit_mb * 1024
    peak_kib = _own_peak_kib()

    def test_one_input(data: bytes) -> None:
        nonlocal peak_kib
        counters.bump(0)
        try:
            target.one_input(data)
            # memory per input: libFuzzer samples RSS once a second and misses
            # a short peak, but the kernel's high-water mark does not
            peak = _own_peak_kib()
            workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if peak > counters.values[4] or workers > counters.values[5]:
                counters.peaks(peak, workers)
            if peak > peak_kib + _GROWTH_KIB:
                grew_by = peak - peak_kib
                peak_kib = peak
                message = (
                    f"peak RSS rose by {grew_by // 1024} MiB to {peak // 1024} MiB on this input"
                )
                if peak > rss_limit_kib:
                    raise MemoryError(f"{message}, over the {args.rss_limit_mb} MiB bound")
                if grew_by >= _NOTABLE_GROWTH_KIB:
                    record("memory", "peak RSS grew by 128 MiB or more", data, MemoryError(message))
        except Fallback as fallback:
            counters.bump(3)
            record("fallback", signature(fallback.cause), data, fallback.cause)
        except Exception as exc:
            sig = signature(exc)
            if known(target.name, sig) is not None:
                counters.bump(2)
                record("known", sig, data, exc)
            else:
                counters.bump(1)
                record("crash", sig, data, exc)

    # libFuzzer ends the process, so the corpus lives with the artifacts
    # (rebuilt from the seeds at every run; new inputs it finds are added)
    corpus = args.artifacts / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir()
    for number, seed in enumerate(target.seeds()):
        (corpus / f"seed-{number:05d}").write_bytes(seed[: target.max_len])
    flags = [
        f"-runs={args.runs}",
        f"-max_len={target.max_len}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-timeout={args.timeout}",
        f"-seed={args.seed}",
        # seeds stay even where coverage does not tell them apart (pydantic's
        # and zlib's work is native code, invisible to atheris)
        "-keep_seed=1",
        "-use_value_profile=1",
        f"-artifact_prefix={args.artifacts}/libfuzzer-",
    ]
    if target.dictionary:
        dictionary = args.artifacts / "tokens.dict"
        dictionary.write_text(
            "\n".join(_dictionary_line(t) for t in target.dictionary) + "\n", encoding="ascii"
        )
        flags.append(f"-dict={dictionary}")
    extra = {} if target.mutator is None else {"custom_mutator": target.mutator}
    atheris.Setup([sys.argv[0], *flags, str(corpus)], test_one_input, **extra)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
