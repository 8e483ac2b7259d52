"""How fast this machine is at the moment, in the unit the performance targets were set in.

The performance issue set its CPU target on a machine where "encoding one padded 30 s
window takes ~1.7 s" (Whisper base int8). Read as CPU seconds with CTranslate2's default
threads, that is what the development machine of the first nine sessions measured at its
usual speed (its replacement, with AVX-512 VNNI, measures about 0.6). A machine's speed
also drifts by 10-30 % within minutes, so the benchmark takes the same measure next to
every run: a figure taken at another speed can then be told apart from a change in the
service, and scaled to the targets' speed.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

ISSUE_ENCODE_30S_CPU_S = 1.7  # the issue's measure of its machine
MEL_BINS, WINDOW_FRAMES = 80, 3000  # 30 s of log-mel features


class SpeedGauge:
    """CPU seconds of one 30 s encoder pass, measured in this process."""

    def __init__(self, model_dir: Path) -> None:
        import ctranslate2

        self._model = ctranslate2.models.Whisper(str(model_dir), device="cpu",
                                                 compute_type="int8")
        # The encoder's arithmetic does not depend on the values; a fixed input keeps every
        # measurement the same work.
        features = np.random.default_rng(0).standard_normal((1, MEL_BINS, WINDOW_FRAMES))
        self._features = ctranslate2.StorageView.from_array(features.astype(np.float32))
        self._model.encode(self._features)  # first pass: weights packed, pools allocated

    def encode_30s_cpu_s(self, passes: int = 3) -> float:
        """Median CPU seconds of `passes` encoder passes (all of this process's threads)."""
        seconds = []
        for _ in range(passes):
            started = time.process_time()
            self._model.encode(self._features)
            seconds.append(time.process_time() - started)
        return round(float(np.median(seconds)), 3)


def at_issue_speed(cpu_per_speech_s: float, encode_30s_cpu_s: float) -> float:
    """A CPU figure scaled to the speed the targets were set at: a linear estimate, the
    measured figure stays the one of record. On one machine every thread group moves with
    its drift; across CPU generations they do not (on AVX-512 VNNI the encoder gained 3x and
    the Python parts 2-2.5x, BENCHMARKS.md), and the scale then overstates the Python."""
    return round(cpu_per_speech_s * ISSUE_ENCODE_30S_CPU_S / encode_30s_cpu_s, 3)
