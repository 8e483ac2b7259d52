"""Recogniser settings against accuracy and CPU: the sweep behind the window and beam defaults.

    python -m tools.bench_windows [--manifest TSV] [--per-language N]
        [--configs 5:1,5:5,8:5,10:5,30:5] [--reference]

Runs `WhisperRecognizer` (one thread) over transcribed prompts for each configuration
`MIN_WINDOW_S:BEAM` and prints word error rate per language and overall with the CPU
seconds it took; `--reference` adds faster-whisper's own `transcribe()`. By default the
bundled prompts (`audio_samples/real/manifest.tsv`); any manifest in that format works, e.g.
the full telephone prompt sets with `--prefix asterisk_core_sounds_ --per-language 40` (a
seeded sample per language).
The last line is a JSON list of the rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "audio_samples" / "real" / "manifest.tsv"


def normalise(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.lower().replace("ё", "е")))


def load_prompts(
    manifest: Path, per_language: int | None, prefix: str = "", seed: int = 1
) -> list[tuple[np.ndarray, str, str]]:
    """(16 kHz audio, normalised transcript, language) of the transcribed 1-12 s prompts
    whose path starts with `prefix`."""
    from sentiment_svc.audio.decode import load_call

    with manifest.open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle, delimiter="\t")
                if row["transcript"] and row["language"] in ("ru", "uk")
                and row["path"].startswith(prefix)
                and 1.0 < float(row["duration_s"]) < 12.0]
    if per_language is not None:
        rng = random.Random(seed)
        rows = [chosen for lang in ("ru", "uk")
                for chosen in rng.sample([r for r in rows if r["language"] == lang],
                                         min(per_language, sum(r["language"] == lang
                                                               for r in rows)))]
    return [(load_call(manifest.parent / row["path"]).customer, normalise(row["transcript"]),
             row["language"]) for row in rows]


def score(name: str, prompts, hypotheses: list[str], cpu_s: float) -> dict:
    import jiwer

    row: dict = {"config": name, "cpu_s": round(cpu_s, 1)}
    for lang in ("ru", "uk"):
        picked = [i for i, (_, _, language) in enumerate(prompts) if language == lang]
        if picked:
            row[lang] = round(jiwer.wer([prompts[i][1] for i in picked],
                                        [hypotheses[i] for i in picked]), 3)
    row["all"] = round(jiwer.wer([p[1] for p in prompts], hypotheses), 3)
    row["speech_s"] = round(sum(len(p[0]) for p in prompts) / 16000, 1)
    return row


def load_reference(model_dir: Path, cpu_threads: int = 0):
    """faster-whisper's own `WhisperModel` over the same weights, for `reference_hypotheses`
    (loaded apart, so that timing the transcription leaves the loading out)."""
    from faster_whisper import WhisperModel

    from sentiment_svc.asr.vocabulary import source_model_dir

    return WhisperModel(str(source_model_dir(model_dir)), device="cpu", compute_type="int8",
                        cpu_threads=cpu_threads, local_files_only=True)


def reference_hypotheses(reference, prompts: list[tuple[np.ndarray, str, str]]) -> list[str]:
    """`transcribe()` (30 s windows, beam 5, temperature fallback) over the prompts, each
    with its language given, normalised for scoring."""
    return [normalise(" ".join(s.text for s in reference.transcribe(pcm, language=lang)[0]))
            for pcm, _, lang in prompts]


def reference_comparison() -> dict:
    """Our recogniser against `transcribe()` on the bundled ru and uk telephone prompts,
    both as the service runs them (numerics single-threaded): word error rates and the
    wall time each took."""
    import jiwer

    from sentiment_svc.asr.whisper import WhisperRecognizer
    from sentiment_svc.config import Settings
    from sentiment_svc.threads import single_threaded_numerics

    single_threaded_numerics()
    model_dir = Settings().whisper_dir
    ours = WhisperRecognizer(model_dir)
    reference = load_reference(model_dir)
    prompts = load_prompts(BUNDLED, None, prefix="asterisk_core_sounds_")
    refs = [text for _, text, _ in prompts]
    started = time.perf_counter()
    hyps_ours = [normalise(ours.recognize(pcm, (lang,)).text) for pcm, _, lang in prompts]
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    hyps_ref = reference_hypotheses(reference, prompts)
    ref_s = time.perf_counter() - started
    return {
        "utterances": len(prompts),
        "speech_s": round(sum(len(pcm) for pcm, _, _ in prompts) / 16000, 1),
        "wer": round(jiwer.wer(refs, hyps_ours), 3),
        "wer_reference": round(jiwer.wer(refs, hyps_ref), 3),
        "seconds": round(ours_s, 1),
        "seconds_reference": round(ref_s, 1),
        "speedup": round(ref_s / ours_s, 2),
    }


def main(argv: list[str] | None = None) -> None:
    from sentiment_svc.asr.whisper import AsrConfig, WhisperRecognizer
    from sentiment_svc.config import Settings
    from sentiment_svc.threads import single_threaded_numerics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=BUNDLED)
    parser.add_argument("--per-language", type=int, default=None)
    parser.add_argument("--prefix", default="", help="only prompts whose path starts so")
    parser.add_argument("--configs", default="5:1,5:5,8:5,10:5,30:5")
    parser.add_argument("--reference", action="store_true")
    args = parser.parse_args(argv)
    single_threaded_numerics()  # as the service runs (a spinning BLAS would count as CPU)
    prompts = load_prompts(args.manifest, args.per_language, args.prefix)
    model_dir = Settings().whisper_dir
    rows = []
    for item in args.configs.split(","):
        window, beam = item.split(":")
        config = replace(AsrConfig(), cpu_threads=1, min_window_s=float(window),
                         beam_size=int(beam))
        recognizer = WhisperRecognizer(model_dir, config)
        recognizer.recognize(prompts[0][0], (prompts[0][2],))  # warm up
        started = time.process_time()
        hypotheses = [normalise(recognizer.recognize(pcm, (lang,)).text)
                      for pcm, _, lang in prompts]
        rows.append(score(f"window>={window}s beam{beam}", prompts, hypotheses,
                          time.process_time() - started))
        print(json.dumps(rows[-1]), flush=True)
    if args.reference:
        reference = load_reference(model_dir, cpu_threads=1)
        started = time.process_time()
        hypotheses = reference_hypotheses(reference, prompts)
        rows.append(score("transcribe()", prompts, hypotheses, time.process_time() - started))
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
