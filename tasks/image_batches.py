"""Images of `samples` rows, decoded in chunks on a background thread while the model works.

A model stage never holds a whole shard of decoded images (2,048 photographs can be gigabytes):
it walks the shard in chunks of the role's batch size, and the next chunk is decoded while the
current one is in the model, so decoding hides behind inference instead of adding to it.
A file that cannot be read any more (moved or damaged since ingest) becomes an error for that row,
never a failed shard.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np


Row = dict
Loader = Callable[[Row], np.ndarray]


@dataclass
class Chunk:
    rows: list[Row]                 # the rows whose image decoded
    images: list[np.ndarray]        # (H, W, 3) uint8, one per row
    errors: dict[str, str]          # sample_id -> why its image could not be read


@dataclass
class Timer:
    """Seconds spent inside model calls, so benchmarks can report what lies outside them."""
    model_s: float = 0.0
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def call(self, fn: Callable, *args):
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            with self.lock:
                self.model_s += time.perf_counter() - start
                self.calls += 1


MODEL_TIME = Timer()   # process-wide; read by benchmarks


def _decode(rows: Sequence[Row], load: Loader) -> Chunk:
    chunk = Chunk([], [], {})
    for row in rows:
        try:
            chunk.images.append(load(row))
            chunk.rows.append(row)
        except Exception as exc:  # noqa: BLE001 — any unreadable file is that row's error, not the shard's
            chunk.errors[row["sample_id"]] = f"{type(exc).__name__}: {exc}"  # names the file
    return chunk


def decoded_chunks(rows: Sequence[Row], load: Loader, size: int) -> Iterator[Chunk]:
    """Chunks of at most `size` rows, decoding chunk i+1 while the caller works on chunk i."""
    starts = range(0, len(rows), max(1, size))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        pending = None
        for start in starts:
            future = pool.submit(_decode, rows[start:start + size], load)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()
