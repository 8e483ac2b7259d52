"""Fine-tune e5-small's top layers with multi-task heads on the labelled corpus (issue 23).

    python -m tools.train_text_model [--e5 models/e5-small] [--out PATH] [--epochs N]
        [--tuned-layers N] [--noised DIR]

(default out: `sentiment_svc/analysis/data/text_model.npz`).

Data: every line of `corpus/v2/*.tsv` plus the train split of the bundled v1 corpus
(`analysis/data/corpus_*.tsv`); the v1 dev split is scored after training as a check and
never trained on. Nothing under `tests/data/heldout/` is read (`training_items` refuses it).
`--noised DIR` adds the training lines of a recognition-noise copy (`python -m tools.asr_noise
DIR`: the corpus as Whisper base writes it), so the model also learns from what it will read.

Model (`sentiment_svc/analysis/text_model.py`): the bottom layers of e5 stay frozen, so their
output for every training input is computed once (one pass, float16 in memory) and training
runs only the top `TUNED_LAYERS` layers and the head. Each utterance with context is trained
both with and without it. Loss: cross-entropy for sentiment plus binary cross-entropy for
complaint and each category. Fixed seed, one torch thread, fixed order: a rerun on the same
CPU writes the same file. Writes the tuned layers in float16 and the head, then its sha256
next to it (`.sha256`), which `tools/provision` checks at install.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sentiment_svc.analysis.corpus import (
    BUNDLED,
    SENTIMENTS,
    LabelledUtterance,
    read_corpus,
)
from sentiment_svc.analysis.evaluate import binary_f1, macro_f1
from sentiment_svc.analysis.text_model import (
    CATEGORY_NAMES,
    DEFAULT_MODEL,
    HEAD_OUTPUTS,
    InputBuilder,
    ModelInput,
    file_sha256,
    pooled_mean,
    readings,
)

ROOT = Path(__file__).resolve().parents[1]
V2_DIR = ROOT / "corpus" / "v2"
HELDOUT_DIR = ROOT / "tests" / "data" / "heldout"
DEFAULT_E5 = ROOT / "models" / "e5-small"
SEED = 0
TUNED_LAYERS = 2
EPOCHS = 3
BATCH_SIZE = 32
LAYER_LR = 5e-5
HEAD_LR = 2e-3
WEIGHT_DECAY = 0.01


def training_items(v2_dir: Path = V2_DIR, v1_files: Sequence[Path] = BUNDLED,
                   noised_dir: Path | None = None, v2_dev: bool = False
                   ) -> tuple[list[LabelledUtterance], list[LabelledUtterance]]:
    """(train, dev): all of v2 plus v1's train split (plus the train-split lines of a noised
    copy in `noised_dir`); v1's dev split. With `v2_dev`, v2's dev split (the same one line in
    five) is held back too, for calibrating the policy on lines the model never saw. Held-out
    files refused."""
    v2_files = sorted(Path(v2_dir).glob("*.tsv"))
    noised_files = sorted(Path(noised_dir).glob("*.tsv")) if noised_dir else []
    for path in (*v2_files, *v1_files, *noised_files):
        if HELDOUT_DIR.resolve() in Path(path).resolve().parents:
            raise ValueError(f"{path}: the held-out set is never trained on")
    v1 = [item for path in v1_files for item in read_corpus(Path(path))]
    v2 = [item for path in v2_files for item in read_corpus(path)]
    noised = [item for path in noised_files for item in read_corpus(path)]
    v2_train = [item for item in v2 if not v2_dev or item.split != "dev"]
    train = v2_train + [item for item in v1 + noised if item.split != "dev"]
    held = v1 + v2 if v2_dev else v1
    return train, [item for item in held if item.split == "dev"]


def targets(items: Sequence[LabelledUtterance]) -> tuple[np.ndarray, np.ndarray]:
    """(sentiment index (n,), binary targets (n, 1 + categories): complaint, categories)."""
    sentiment = np.array([SENTIMENTS.index(item.sentiment) for item in items], dtype=np.int64)
    binary = np.zeros((len(items), 1 + len(CATEGORY_NAMES)), dtype=np.float32)
    for row, item in enumerate(items):
        binary[row, 0] = float(item.complaint)
        for category in item.categories:
            binary[row, 1 + CATEGORY_NAMES.index(category)] = 1.0
    return sentiment, binary


def additive_mask(mask, dtype):
    import torch

    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def frozen_states(bert, builder: InputBuilder, inputs: Sequence[ModelInput], frozen: int
                  ) -> list[np.ndarray]:
    """The output of the embeddings and the bottom `frozen` layers per input (float16)."""
    import torch

    out: list[np.ndarray] = [np.zeros(0)] * len(inputs)
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i].ids))
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            ids, mask, _ = builder.batch([inputs[i] for i in rows])
            mask_t = torch.from_numpy(mask)
            hidden = bert.embeddings(input_ids=torch.from_numpy(ids))
            extended = additive_mask(mask_t, hidden.dtype)
            for layer in bert.encoder.layer[:frozen]:
                hidden = layer(hidden, extended)
            for row, index in enumerate(rows):
                out[index] = hidden[row, : len(inputs[index].ids)].numpy().astype(np.float16)
    return out


class Top:
    """The tuned layers and head over precomputed frozen states (torch)."""

    def __init__(self, bert, frozen: int) -> None:
        import torch

        self.layers = bert.encoder.layer[frozen:]
        self.head = torch.nn.Linear(bert.config.hidden_size, HEAD_OUTPUTS)

    def __call__(self, states: Sequence[np.ndarray], pooled: Sequence[int]):
        import torch

        width = max(len(s) for s in states)
        hidden = torch.zeros(len(states), width, states[0].shape[1])
        mask = torch.zeros(len(states), width)
        pool = torch.zeros(len(states), width)
        for row, (state, count) in enumerate(zip(states, pooled, strict=True)):
            hidden[row, : len(state)] = torch.from_numpy(state.astype(np.float32))
            mask[row, : len(state)] = 1.0
            pool[row, :count] = 1.0
        extended = additive_mask(mask, hidden.dtype)
        for layer in self.layers:
            hidden = layer(hidden, extended)
        return self.head(pooled_mean(hidden, pool))


def main(argv: list[str] | None = None) -> None:
    import torch
    from transformers import BertModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--e5", type=Path, default=DEFAULT_E5)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--tuned-layers", type=int, default=TUNED_LAYERS)
    parser.add_argument("--noised", type=Path, help="a tools.asr_noise copy to train on too")
    parser.add_argument("--v2-dev", action="store_true",
                        help="hold back v2's dev split too (score it with eval_text_model"
                             " --split dev)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    random.seed(SEED)
    started = time.perf_counter()

    train, dev = training_items(noised_dir=args.noised, v2_dev=args.v2_dev)
    builder = InputBuilder(args.e5 / "tokenizer.json")
    # Each utterance with context: once with it, once without (a call's first utterance).
    examples = [(i, item.context) for i, item in enumerate(train)]
    examples += [(i, ()) for i, item in enumerate(train) if item.context]
    inputs = builder.build([train[i].text for i, _ in examples], [c for _, c in examples])
    sentiment, binary = targets([train[i] for i, _ in examples])
    print(f"train: {len(train)} utterances, {len(examples)} inputs; dev: {len(dev)}")

    bert = BertModel.from_pretrained(args.e5, local_files_only=True, dtype=torch.float32,
                                     add_pooling_layer=False, attn_implementation="eager")
    bert.eval()
    for parameter in bert.parameters():
        parameter.requires_grad_(False)
    frozen = bert.config.num_hidden_layers - args.tuned_layers
    states = frozen_states(bert, builder, inputs, frozen)
    dev_inputs = builder.build([item.text for item in dev], [item.context for item in dev])
    dev_states = frozen_states(bert, builder, dev_inputs, frozen)
    print(f"frozen states of {frozen} layers in {time.perf_counter() - started:.0f}s")

    top = Top(bert, frozen)
    tuned = [p for layer in top.layers for p in layer.parameters()]
    for parameter in tuned:
        parameter.requires_grad_(True)
    optimiser = torch.optim.AdamW(
        [{"params": tuned, "lr": LAYER_LR}, {"params": top.head.parameters(), "lr": HEAD_LR}],
        weight_decay=WEIGHT_DECAY,
    )
    counts = np.bincount(sentiment, minlength=len(SENTIMENTS))
    class_weight = torch.tensor(len(sentiment) / (len(SENTIMENTS) * counts), dtype=torch.float32)
    steps = args.epochs * ((len(inputs) + BATCH_SIZE - 1) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: max(0.0, 1 - s / steps))
    sentiment_t, binary_t = torch.from_numpy(sentiment), torch.from_numpy(binary)
    rng = np.random.default_rng(SEED)
    for layer in top.layers:
        layer.train()
    for epoch in range(args.epochs):
        order = rng.permutation(len(inputs))
        total = 0.0
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            logits = top([states[i] for i in rows], [inputs[i].pooled for i in rows])
            k = len(SENTIMENTS)
            loss = torch.nn.functional.cross_entropy(
                logits[:, :k], sentiment_t[rows], weight=class_weight
            ) + torch.nn.functional.binary_cross_entropy_with_logits(logits[:, k:], binary_t[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(rows)
        print(f"epoch {epoch + 1}: loss {total / len(inputs):.4f}"
              f" ({time.perf_counter() - started:.0f}s)")
        report_dev(dev, dev_inputs, dev_states, top)

    for layer in top.layers:
        layer.eval()
    save(args.out, bert, top, frozen, file_sha256(args.e5 / "model.safetensors"))
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f}s")


def save(path: Path, bert, top: Top, frozen: int, base_sha256: str) -> None:
    arrays: dict[str, np.ndarray] = {
        name: tensor.detach().numpy().astype(np.float16)
        for name, tensor in bert.state_dict().items()
        if name.startswith("encoder.layer.") and int(name.split(".")[2]) >= frozen
    }
    arrays["head.weight"] = top.head.weight.detach().numpy().astype(np.float32)
    arrays["head.bias"] = top.head.bias.detach().numpy().astype(np.float32)
    arrays["tuned_layers"] = np.array(bert.config.num_hidden_layers - frozen)
    arrays["sentiments"] = np.array(SENTIMENTS)
    arrays["categories"] = np.array(CATEGORY_NAMES)
    arrays["base_sha256"] = np.array(base_sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:  # np.savez on a handle: no timestamps differ on rerun
        np.savez(handle, **arrays)
    digest = file_sha256(path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, sha256 {digest}")


def report_dev(dev: Sequence[LabelledUtterance], inputs: Sequence[ModelInput],
               states: Sequence[np.ndarray], top: Top) -> None:
    """Sentiment, complaint and category F1 on the dev lines (layers back in training mode)."""
    import torch

    for layer in top.layers:
        layer.eval()
    with torch.inference_mode():
        logits = np.vstack([
            top(states[a : a + 64], [x.pooled for x in inputs[a : a + 64]]).numpy()
            for a in range(0, len(dev), 64)
        ])
    for layer in top.layers:
        layer.train()
    found = readings(logits)
    for lang in sorted({item.lang for item in dev}):
        rows = [i for i, item in enumerate(dev) if item.lang == lang]
        guess = [SENTIMENTS[int(np.argmax(found[i].sentiment))] for i in rows]
        f1 = macro_f1([dev[i].sentiment for i in rows], guess, SENTIMENTS)
        complaint = binary_f1([dev[i].complaint for i in rows],
                              [found[i].complaint >= 0.5 for i in rows])
        expected = {(i, c) for i in rows for c in dev[i].categories}
        guessed = {(i, c) for i in rows for c in found[i].found_categories()}
        hits = len(expected & guessed)
        categories = 2 * hits / max(1, len(expected) + len(guessed))
        print(f"dev {lang}: n={len(rows)} sentiment macro-F1 {f1:.3f}"
              f" complaint F1 {complaint if complaint is None else round(complaint, 3)}"
              f" category micro-F1 {categories:.3f}")


if __name__ == "__main__":
    main()
