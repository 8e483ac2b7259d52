"""Export an e5 (BertModel) directory to ONNX, for ONNX Runtime at serving time.

ONNX Runtime runs e5-small in about half the time torch's eager mode takes for one short
utterance (BENCHMARKS.md): at one or a few texts per pass, torch's per-module overhead is
as large as the arithmetic. The export is float32 and exact (the last hidden states match
torch's to about 1e-6), so the heads trained on torch's embeddings need no retraining.
`E5Encoder` uses `model.onnx` when the directory has one, torch otherwise.

    python -m tools.provision.e5_onnx models/e5-small   # also works on a user's own e5 directory
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np

from sentiment_svc.analysis.text_encoder import ONNX_FILE  # where E5Encoder looks for it

TOLERANCE = 1e-4  # largest difference allowed between torch's and the export's states


def export(model_dir: Path, onnx_path: Path | None = None) -> Path:
    """Write `model_dir/model.onnx` (and its `.data`) from the BertModel in `model_dir`,
    then check it against torch on a padded batch; raises `RuntimeError` if it differs."""
    import torch
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model_dir = Path(model_dir)
    onnx_path = onnx_path or model_dir / ONNX_FILE
    model = BertModel.from_pretrained(
        model_dir, local_files_only=True, dtype=torch.float32, add_pooling_layer=False,
        attn_implementation="eager",
    ).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    input_ids = torch.randint(5, 1000, (2, 12))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 7:] = 0  # a padded row, so that the mask is not folded away
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", max=512)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(
            LastHiddenState(), (input_ids, attention_mask), str(onnx_path),
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_shapes={"input_ids": {0: batch, 1: tokens},
                            "attention_mask": {0: batch, 1: tokens}},
            dynamo=True, external_data=True, verbose=False,
        )
    _check(model, onnx_path)
    return onnx_path


def _check(model, onnx_path: Path) -> None:
    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, 1000, (3, 40), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 25:] = 0
    attention_mask[2, 3:] = 0
    with torch.inference_mode():
        expected = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    (got,) = session.run(None, {"input_ids": input_ids.numpy(),
                                "attention_mask": attention_mask.numpy()})
    real = attention_mask.bool().numpy()
    difference = float(np.abs(got - expected.numpy())[real].max())
    if not difference <= TOLERANCE:
        raise RuntimeError(
            f"{onnx_path}: the ONNX export differs from torch by {difference:.2e}"
            f" (allowed {TOLERANCE:.0e}); delete it and its .data to fall back to torch"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="an e5 (BertModel) directory")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    path = export(args.model_dir)
    print(f"wrote {path} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
