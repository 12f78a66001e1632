"""LabeledRows keeps outputs packed: what it gives back (outputs, entries for a partial
state) is exactly what it was given, and adding rows together keeps the same rows, in the
same order, as adding them one by one."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from modelops.monitoring.accumulators import LabeledRows, _identity_key


class Opaque:
    """An output value marshal cannot hold: kept as it is."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque)

    __hash__ = object.__hash__


OUTPUTS: list[Any] = [
    {"label": "yes", "probabilities": {"no": 0.1, "yes": 0.9}},
    {"probabilities": {"yes": 2.5e-324, "no": 1.0}, "label": None},
    {"value": float("nan")},
    {"value": -0.0, "extra": [1, "two", {"three": 3.0}], "big": 2**70},
    {"label": 7, "probabilities": "not an object"},
    {"label": True},
    {},
    {"value": Opaque()},
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def test_outputs_come_back_exactly_as_given() -> None:
    rows = LabeledRows(capacity=100)
    ids = [f"id-{i}" for i in range(len(OUTPUTS))]
    rows.add_many(list(range(len(OUTPUTS))), OUTPUTS, ids)
    by_truth = dict(zip(rows.truth, rows.outputs, strict=True))
    for i, output in enumerate(OUTPUTS):
        assert _same(by_truth[i], output), output
    entries = {truth: output for _, truth, output in rows.entries()}
    for i, output in enumerate(OUTPUTS):
        assert _same(entries[i], output), output
    # outputs read twice give equal, separate lists (a caller may change its list)
    first = rows.outputs
    first.clear()
    assert len(rows.outputs) == len(OUTPUTS)


def test_adding_rows_together_keeps_the_rows_one_by_one_keeps() -> None:
    rng = np.random.default_rng(11)
    ids = [f"row-{n}-é\ud800" for n in rng.integers(0, 10**9, 500).tolist()]
    truths = rng.integers(0, 3, 500).tolist()
    outputs = [{"label": t, "probabilities": {"a": float(t) / 3}} for t in truths]
    one, many = LabeledRows(capacity=120), LabeledRows(capacity=120)
    for truth, output, identity in zip(truths, outputs, ids, strict=True):
        one.add(truth, output, identity)
    many.add_many(truths[:77], outputs[:77], ids[:77])
    many.add_many(truths[77:], outputs[77:], ids[77:])
    assert many.seen == one.seen == 500
    assert many.entries() == one.entries()
    assert many.truth == one.truth and many.outputs == one.outputs


def test_identity_keys_are_53_bits_of_the_ids_hash() -> None:
    import hashlib

    for identity in ["a", "", "é", "\ud800", "x" * 1000]:
        digest = hashlib.blake2b(identity.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        assert _identity_key(identity) == (int.from_bytes(digest, "big") >> 11) / 2.0**53
