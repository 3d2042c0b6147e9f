"""What both wire formats of the scripted server share: token estimates, ids, prompt cache.

``tokens`` estimates a token count from UTF-8 bytes (4 bytes a token, at least 1 for any
non-empty text). ``PrefixCache`` remembers the prefixes earlier requests sent: a wire
format hands it the request as an ordered list of JSON pieces and the piece indexes at
which a prefix may be cached; it answers how many bytes were read from the cache (the
longest such prefix seen before) and how many were written (the rest up to the last
index), like a provider's prompt cache without a minimum size or expiry. ``ids`` makes
realistic, unique ids (``msg_01…``, ``toolu_01…``, ``chatcmpl-…``, ``call_…``).

No I/O; ``PrefixCache`` and ``Ids`` are thread-safe.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BYTES_PER_TOKEN = 4
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def dump(value: Any) -> str:
    """Compact, key-sorted JSON: the canonical form sizes and hashes are taken from."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def tokens(nbytes: int) -> int:
    """Estimated tokens for ``nbytes`` bytes of UTF-8."""
    return math.ceil(nbytes / BYTES_PER_TOKEN) if nbytes > 0 else 0


def size(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class CacheUse:
    """Bytes of one request's prompt: in total, read from the cache, written to it."""

    total: int
    read: int
    written: int


class PrefixCache:
    """Prefixes seen in earlier requests, keyed by model and the exact bytes."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def use(self, model: str, pieces: Sequence[str], ends: Sequence[int]) -> CacheUse:
        """Look up and remember the prefixes ``pieces[: end + 1]`` for each ``end``."""
        sizes = list(itertools.accumulate(size(p) for p in pieces))
        total = sizes[-1] if sizes else 0
        ends = sorted({e for e in ends if 0 <= e < len(pieces)})
        if not ends:
            return CacheUse(total, 0, 0)
        keys = _prefix_keys(model, pieces, ends)
        with self._lock:
            hits = [end for end in ends if keys[end] in self._seen]
            self._seen.update(keys.values())
        read = sizes[hits[-1]] if hits else 0
        last = ends[-1]
        written = 0 if hits and hits[-1] == last else sizes[last] - read
        return CacheUse(total, read, written)


def _prefix_keys(model: str, pieces: Sequence[str], ends: Sequence[int]) -> dict[int, str]:
    digest = hashlib.sha256(model.encode("utf-8"))
    keys: dict[int, str] = {}
    wanted = set(ends)
    for index, piece in enumerate(pieces[: max(ends) + 1]):
        digest.update(b"\x00" + piece.encode("utf-8"))
        if index in wanted:
            keys[index] = digest.copy().hexdigest()
    return keys


class Ids:
    """Unique ids in each API's style, derived from a per-server counter."""

    def __init__(self, seed: str) -> None:
        self._seed = seed
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def make(self, prefix: str, length: int = 24) -> str:
        with self._lock:
            number = next(self._counter)
        digest = hashlib.sha256(f"{self._seed}:{number}".encode()).digest()
        value = int.from_bytes(digest, "big")
        chars = []
        for _ in range(length):
            value, rest = divmod(value, len(_ALPHABET))
            chars.append(_ALPHABET[rest])
        return prefix + "".join(chars)
