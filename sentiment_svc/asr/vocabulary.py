"""Whisper restricted to the tokens Russian and Ukrainian transcripts are written with.

Each token the decoder generates multiplies its state by the whole vocabulary projection
(51,865 rows, tied to the token embeddings), and on a CPU that read from memory is about
half of a decoding step. Most rows are tokens of other scripts that a Russian or Ukrainian
transcript never uses. `restrict_model` writes a copy of a CTranslate2 Whisper model that
keeps only the special tokens, the 256 single bytes (any text can still be written), and
the tokens made of Cyrillic, digits, punctuation and short Latin pieces
(`sentiment-svc restrict-vocab SOURCE TARGET`, then `--model TARGET`).

It is the default (`make install` builds `models/whisper-base-ru-uk`). Dropping tokens is
like suppressing them: each step's probabilities are renormalised over fewer tokens, which
can change which beam wins. Measured on 101 telephone prompts, the word error rate is the
same and the recogniser uses about a third less CPU; on the real angry call, how often the
swear words survive depends far more on float rounding and the repetition penalty than on
the vocabulary (BENCHMARKS.md).

The restricted model numbers its tokens 0..n-1; the tokenizer still uses the original ids.
`TokenMap` (from the `token_map.json` written next to the model) translates both ways.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentiment_svc.asr.model_file import ModelFile, Variable

TOKEN_MAP_FILE = "token_map.json"
EMBEDDINGS = "decoder/embeddings/weight"
FIRST_SPECIAL = "<|endoftext|>"
# Latin words still occur (brands, "SMS", e-mail addresses before masking); pieces this short
# spell any of them, and Whisper's long English word tokens are most of the vocabulary.
LATIN_MAX_LETTERS = 3
_ALLOWED = re.compile(r"[\u0400-\u04ff\x20-\x7e«»—–…’‘“”„№]*")
_LETTERS = re.compile(r"[A-Za-z]")
# UTF-8 lead bytes of the allowed non-ASCII characters: « » (0xC2), Cyrillic (0xD0-0xD3),
# dashes, quotes, "…" and "№" (0xE2).
_LEAD_BYTES = frozenset({0xC2, 0xD0, 0xD1, 0xD2, 0xD3, 0xE2})
# Config entries that hold token ids.
_ID_LISTS = ("lang_ids", "suppress_ids", "suppress_ids_begin")


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet: the printable character standing for each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in printable]
    characters = [*printable, *range(256, 256 + len(extra))]
    return {chr(c): b for b, c in zip([*printable, *extra], characters, strict=True)}


def token_bytes(token: str, decoder: dict[str, int] | None = None) -> bytes:
    decoder = decoder or _byte_decoder()
    return bytes(decoder[character] for character in token)


def keeps(token: bytes) -> bool:
    """Whether a (non-special) token belongs to the restricted vocabulary."""
    if len(token) == 1:
        return True
    # A token may start inside a UTF-8 character (continuation bytes) or end inside one.
    start = 0
    while start < len(token) and 0x80 <= token[start] <= 0xBF:
        start += 1
    end = len(token)
    for back in (1, 2):  # an unfinished Cyrillic letter or punctuation mark at the end
        if end - back >= start and token[end - back] in _LEAD_BYTES and all(
            0x80 <= b <= 0xBF for b in token[end - back + 1:]
        ):
            end -= back
            break
    try:
        text = token[start:end].decode("utf-8")
    except UnicodeDecodeError:
        return False
    if not _ALLOWED.fullmatch(text):
        return False
    if text.isascii():
        return len(_LETTERS.findall(text)) <= LATIN_MAX_LETTERS
    return True


def select_tokens(vocabulary: list[str]) -> list[int]:
    """Ids (in the original numbering, ascending) of the tokens the restricted model keeps."""
    if FIRST_SPECIAL not in vocabulary:
        raise ValueError(f"not a Whisper vocabulary: it has no {FIRST_SPECIAL} token")
    first_special = vocabulary.index(FIRST_SPECIAL)
    decoder = _byte_decoder()
    return [
        index for index, token in enumerate(vocabulary)
        if index >= first_special or keeps(token_bytes(token, decoder))
    ]


def read_vocabulary(model_dir: Path) -> list[str]:
    lines = (model_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def restrict_model(source: Path, target: Path) -> int:
    """Write the restricted copy of the CTranslate2 Whisper model in `source` to `target`
    (which must not exist yet; written atomically). Returns the number of tokens kept."""
    vocabulary = read_vocabulary(source)
    kept = select_tokens(vocabulary)
    model = ModelFile.read(source / "model.bin")
    embeddings = model.variables[EMBEDDINGS].array()
    if embeddings.shape[0] != len(vocabulary):
        raise ValueError(
            f"{source}: {embeddings.shape[0]} embeddings for {len(vocabulary)} tokens"
        )
    model.variables[EMBEDDINGS] = Variable.of(embeddings[kept])
    new_id = {old: new for new, old in enumerate(kept)}
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    for key in _ID_LISTS:
        if key in config:
            config[key] = [new_id[token] for token in config[key] if token in new_id]

    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.write(staging / "model.bin")
    (staging / "vocabulary.txt").write_text(
        "".join(vocabulary[token] + "\n" for token in kept), encoding="utf-8"
    )
    (staging / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    for name in ("tokenizer.json", "preprocessor_config.json"):
        if (source / name).is_file():
            shutil.copy(source / name, staging / name)
    (staging / TOKEN_MAP_FILE).write_text(
        # Relative to the restricted model, so that a models directory can be moved whole.
        json.dumps({"source": os.path.relpath(source.resolve(), target.resolve()),
                    "source_vocabulary_size": len(vocabulary),
                    "kept": kept}),
        encoding="utf-8",
    )
    staging.rename(target)
    return len(kept)


def restriction_is_current(source: Path, target: Path) -> bool:
    """Whether `target` is a complete restriction of `source` with today's token choice."""
    path = target / TOKEN_MAP_FILE
    if not path.is_file() or not (target / "model.bin").is_file():
        return False
    kept = json.loads(path.read_text(encoding="utf-8"))["kept"]
    return bool(kept == select_tokens(read_vocabulary(source)))


def source_model_dir(model_dir: Path) -> Path:
    """The unrestricted model a restricted one was derived from (itself if unrestricted),
    for comparisons with faster-whisper's own `transcribe()`, which needs the full vocabulary."""
    path = model_dir / TOKEN_MAP_FILE
    if not path.is_file():
        return model_dir
    source = Path(json.loads(path.read_text(encoding="utf-8"))["source"])
    return source if source.is_absolute() else (model_dir / source).resolve()


@dataclass(frozen=True)
class TokenMap:
    """Between the tokenizer's ids (`source`) and a restricted model's (`model`)."""

    kept: np.ndarray  # model id -> source id
    model_id: np.ndarray  # source id -> model id, -1 where dropped

    @classmethod
    def load(cls, model_dir: Path) -> TokenMap | None:
        """The model's map, or None for an unrestricted model."""
        path = model_dir / TOKEN_MAP_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        kept = np.asarray(data["kept"], dtype=np.int64)
        model_id = np.full(int(data["source_vocabulary_size"]), -1, dtype=np.int64)
        model_id[kept] = np.arange(len(kept))
        return cls(kept, model_id)

    def to_model(self, tokens: list[int]) -> list[int]:
        """Source ids to model ids, dropping those the model does not have."""
        return [int(self.model_id[t]) for t in tokens if 0 <= t < len(self.model_id)
                and self.model_id[t] >= 0]

    def to_source(self, tokens: list[int]) -> list[int]:
        return [int(self.kept[t]) for t in tokens]
