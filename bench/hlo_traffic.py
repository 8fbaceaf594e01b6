"""Bytes an XLA-compiled update moves, counted from its optimised HLO text.

Shared by bench/bench_adamw.py (TensorFlow) and bench/bench_adamw_jax.py
(Keras on JAX, CPU or GPU). The count assumes each kernel of the entry
computation (a fusion, a copy, ...) streams its operands from memory once and
writes its result once: what a memory-bound element-wise update costs when no
operand is still in cache.
"""

from __future__ import annotations

import re

import numpy as np

DTYPE_BYTES = {
    "pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
    "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8,
}
# HLO instructions that move no data of their own.
NO_TRAFFIC = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast", "after-all"}


def shape_bytes(shape: str) -> int:
    """Bytes of an HLO shape such as `f32[500000]{0}` or `(f32[3]{0}, s64[])`."""
    total = 0
    for dtype, dims in re.findall(r"\b([a-z]+\d*)\[([\d,]*)\]", shape):
        if dtype in DTYPE_BYTES:
            total += DTYPE_BYTES[dtype] * int(np.prod([int(d) for d in dims.split(",") if d]))
    return total


def matching_paren(text: str) -> int:
    """Index of the parenthesis that closes the one `text` starts with."""
    depth = 0
    for index, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return index
    raise ValueError(f"unbalanced: {text[:80]}")


def hlo_traffic_bytes(hlo: str) -> tuple[int, int]:
    """Bytes read plus written by the HLO's entry computation, each kernel (fusion)
    streaming its operands from memory once and writing its result once; and the
    number of kernels that move more than a kilobyte."""
    entry = hlo[hlo.index("\nENTRY") :]
    entry = entry[: entry.index("\n}")]
    sizes: dict[str, int] = {}
    total = kernels = 0
    for line in entry.splitlines()[1:]:
        match = re.match(r"\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*)$", line)
        if not match:
            continue
        name, rest = match.groups()
        if rest.startswith("("):  # a tuple shape
            end = matching_paren(rest) + 1
            shape, rest = rest[:end], rest[end:].lstrip()
        else:
            shape, _, rest = rest.partition(" ")
        sizes[name] = shape_bytes(shape)
        opcode, _, args = rest.partition("(")
        if opcode in NO_TRAFFIC:
            continue
        operands = set(re.findall(r"%([\w.\-]+)", args[: matching_paren("(" + args)]))
        moved = sizes[name] + sum(sizes.get(op, 0) for op in operands)
        total += moved
        kernels += moved > 1024
    return total, kernels
