"""Text embeddings batched across calls: concurrent `embed` calls share one encoder pass.

Many live calls finish utterances at about the same time, and e5 costs about half as much
per text in a batch of four as alone. `CombiningEncoder` wraps an encoder for use from
several worker threads: whoever finds no pass running runs one over the oldest waiting
texts (its own and other callers'), the rest wait for their rows or their turn. Nobody
waits for a timer, so a lone call pays no latency.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class TextEncoder(Protocol):
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class _Request:
    texts: list[str]
    rows: np.ndarray | None = None
    error: BaseException | None = None

    @property
    def answered(self) -> bool:
        return self.rows is not None or self.error is not None


class CombiningEncoder:
    def __init__(self, encoder: TextEncoder, max_texts: int = 32) -> None:
        self._encoder = encoder
        self._max_texts = max_texts
        self._turn = threading.Condition()
        self._waiting: list[_Request] = []
        self._running = False
        self.dim = encoder.dim
        self.passes = 0  # encoder passes run, for tests

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        request = _Request(list(texts))
        with self._turn:
            self._waiting.append(request)
            while not request.answered:
                if self._running:
                    self._turn.wait()
                    continue
                self._running = True
                batch = self._take()
                self._turn.release()
                try:
                    self._run(batch)
                finally:
                    self._turn.acquire()
                    self._running = False
                    self._turn.notify_all()
        if request.error is not None:
            raise request.error
        assert request.rows is not None
        return request.rows

    def _take(self) -> list[_Request]:
        """The oldest waiting requests, up to `max_texts` texts (at least one request)."""
        batch, size = [], 0
        while self._waiting and (
            not batch or size + len(self._waiting[0].texts) <= self._max_texts
        ):
            request = self._waiting.pop(0)
            batch.append(request)
            size += len(request.texts)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        try:
            rows = self._encoder.embed(texts) if texts else np.zeros((0, self.dim), np.float32)
            self.passes += 1
        except Exception as error:  # each caller of this pass gets it
            for request in batch:
                request.error = error
            return
        at = 0
        for request in batch:
            request.rows = rows[at : at + len(request.texts)]
            at += len(request.texts)
