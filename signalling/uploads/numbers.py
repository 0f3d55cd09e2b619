"""A regular expression for the decimal numbers 0 to n, for headers documented as text.

Headers travel as text, and the OpenAPI fuzzer reads an ``integer`` header
back as a string, so a numeric header is documented by a pattern; this one
also states the maximum exactly.
"""

from __future__ import annotations


def at_most(n: int) -> str:
    """``^(...)$`` matching 0..n written without leading zeros."""
    if n < 0:
        raise ValueError("n must be non-negative")
    digits = str(n)
    k = len(digits)
    options = ["0"]
    if k >= 2:
        options.append(f"[1-9][0-9]{{0,{k - 2}}}" if k > 2 else "[1-9]")
    for i, d in enumerate(digits):
        low = 1 if i == 0 else 0
        top = int(d) - 1
        if top >= low:
            rest = k - i - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            options.append(f"{digits[:i]}[{low}-{top}]{tail}")
    options.append(digits)
    return "^(" + "|".join(dict.fromkeys(options)) + ")$"
