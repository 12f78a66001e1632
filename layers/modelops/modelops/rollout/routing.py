"""Sticky routing: the same inference id always lands on the same version.

An id's share is the first 8 bytes of sha256("<salt>:<id>") as a number in [0, 1): uniform,
stable across processes and restarts (unlike Python's hash), and independent between
rollouts because the salt names the challenger. A retried request (same inference id) is
answered by the same version; a canary of weight w answers the ids whose share is below w.
"""

from __future__ import annotations

import hashlib

_SCALE = float(2**64)


def share(inference_id: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{inference_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def routes_to_challenger(inference_id: str, weight: float, salt: str) -> bool:
    """True when the challenger of weight `weight` takes this inference id."""
    return share(inference_id, salt) < weight


def rollout_salt(model_name: str, challenger_version: int) -> str:
    return f"{model_name}:challenger:v{int(challenger_version)}"
