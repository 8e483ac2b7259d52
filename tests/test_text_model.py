"""The fine-tuned text model's data, committed file and analysis rules (issue 23); no models.

The export's agreement with torch is in `test_text_model_export.py` (it needs the models)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sentiment_svc.analysis.corpus import BUNDLED, read_corpus
from sentiment_svc.analysis.model_analyzer import (
    Cutoffs,
    customer_categories,
    customer_complaint,
)
from sentiment_svc.analysis.text_model import (
    CATEGORY_NAMES,
    DEFAULT_MODEL,
    HEAD_OUTPUTS,
    TextReading,
    file_sha256,
    load_arrays,
    readings,
)
from tools.train_text_model import HELDOUT_DIR, V2_DIR, targets, training_items

MAX_BYTES = 25 * 1000 * 1000


def _normalised(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def test_training_data_is_v2_and_v1_train_only_never_the_heldout_set() -> None:
    train, dev = training_items()
    v2 = [item for path in sorted(V2_DIR.glob("*.tsv")) for item in read_corpus(path)]
    v1 = [item for path in BUNDLED for item in read_corpus(path)]
    assert len(train) == len(v2) + sum(item.split == "train" for item in v1)
    assert {item.id for item in dev} == {item.id for item in v1 if item.split == "dev"}
    assert not {item.id for item in train} & {item.id for item in dev}
    heldout = [item for path in sorted(HELDOUT_DIR.glob("*.tsv")) for item in read_corpus(path)]
    assert heldout, "the held-out files are where the loader expects them"
    assert not {item.id for item in train} & {item.id for item in heldout}
    texts = {_normalised(item.text) for item in heldout}
    assert not [item.id for item in train if _normalised(item.text) in texts]


def test_the_loader_refuses_a_heldout_file() -> None:
    with pytest.raises(ValueError, match="held-out"):
        training_items(v1_files=[HELDOUT_DIR / "ru.tsv"])


def test_targets_hold_sentiment_complaint_and_each_category() -> None:
    train, _ = training_items()
    item = next(i for i in train if i.complaint and i.categories)
    sentiment, binary = targets([item])
    assert sentiment[0] == ("neg", "neu", "pos").index(item.sentiment)
    assert binary[0, 0] == 1.0
    assert {CATEGORY_NAMES[k] for k in np.flatnonzero(binary[0, 1:])} == set(item.categories)


def test_the_committed_model_is_small_and_matches_its_recorded_hash() -> None:
    assert DEFAULT_MODEL.stat().st_size <= MAX_BYTES
    record = DEFAULT_MODEL.with_name(DEFAULT_MODEL.name + ".sha256").read_text().split()
    assert record == [file_sha256(DEFAULT_MODEL), DEFAULT_MODEL.name]
    arrays = load_arrays()
    layers = {name.split(".")[2] for name in arrays if name.startswith("encoder.layer.")}
    tuned = int(arrays["tuned_layers"])
    assert layers == {str(index) for index in range(12 - tuned, 12)}  # e5-small's top layers
    assert all(arrays[name].dtype == np.float16 for name in arrays
               if name.startswith("encoder.layer."))
    assert arrays["head.weight"].shape == (HEAD_OUTPUTS, 384)


def test_a_file_with_other_categories_is_refused(tmp_path: Path) -> None:
    arrays = load_arrays()
    arrays["categories"] = np.array(list(CATEGORY_NAMES[::-1]))
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(ValueError, match="categories"):
        load_arrays(tmp_path / "m.npz")


NEGATIVE, PLEASED = np.array([0.8, 0.1, 0.1]), np.array([0.1, 0.1, 0.8])


def _reading(complaint: float, sentiment: np.ndarray = NEGATIVE, **categories: float
             ) -> TextReading:
    probabilities = dict.fromkeys(CATEGORY_NAMES, 0.01) | categories
    return TextReading(sentiment, complaint, probabilities)


def test_a_complaint_without_a_category_gets_the_models_likeliest_one() -> None:
    name = next(c for c in CATEGORY_NAMES if c != "gratitude")
    assert customer_categories(_reading(0.9, **{name: 0.3}), []) == (name,)
    assert customer_categories(_reading(0.2, **{name: 0.3}), []) == ()


def test_the_lexicons_categories_are_added_to_the_models() -> None:
    first, second = [c for c in CATEGORY_NAMES if c != "gratitude"][:2]
    found = customer_categories(_reading(0.9, **{first: 0.7, second: 0.35}), [second])
    assert found == tuple(sorted((first, second)))
    # in an utterance the model reads as not negative, one it all but rules out is the
    # bundled phrase misfiring (a trigger word in a neutral sentence): dropped
    neutral = np.array([0.1, 0.8, 0.1])
    assert customer_categories(_reading(0.1, neutral, **{first: 0.7, second: 0.05}),
                               [second]) == (first,)
    # read as negative, the customer's complaint phrase stands («...самый настоящий, бля»)
    assert customer_categories(_reading(0.9, **{first: 0.7, second: 0.05}),
                               [second]) == tuple(sorted((first, second)))
    # sarcastic thanks: the bundled «спасибо» is dropped from a negative reading all the same
    assert "gratitude" not in customer_categories(_reading(0.9, gratitude=0.05), ["gratitude"])


def test_a_category_the_lexicon_found_only_negated_is_taken_from_the_models() -> None:
    # "переходити до іншого оператора я не збираюся": the model may read churn; the
    # lexicon's negated match vetoes it, and no other complaint category stands in for it.
    found = customer_categories(_reading(0.9, churn_threat=0.8), [], ["churn_threat"])
    assert found == ()
    kept = customer_categories(_reading(0.9, churn_threat=0.8, money=0.7), [], ["churn_threat"])
    assert kept == ("money",)


def test_the_customer_complains_by_the_models_reading_or_a_complaint_category() -> None:
    assert customer_complaint(_reading(0.9), ())  # a complaint naming no category
    assert customer_complaint(_reading(0.1), ("waiting",))
    assert not customer_complaint(_reading(0.1), ("gratitude",))
    assert not customer_complaint(_reading(0.9), (), ["churn_threat"])  # negated: none


def test_cutoffs_set_how_sure_the_model_must_be_and_when_it_overrules_the_lexicon() -> None:
    strict = Cutoffs(category=0.8, complaint=0.95, lexicon_floor=0.1)
    reading = _reading(0.9, PLEASED, money=0.7, profanity=0.05, waiting=0.3)
    assert customer_categories(reading, ["waiting"]) == ("money", "waiting")
    # "офигеть, уже подключили": the lexicon's profanity, which the model all but rules out
    assert customer_categories(reading, ["profanity"], cutoffs=strict) == ()
    assert customer_categories(reading, ["waiting"], cutoffs=strict) == ("waiting",)
    # the contact centre's own pattern ("NetBox не работает") stands whatever the model reads
    assert customer_categories(reading, ["profanity"], cutoffs=strict,
                               own_found=["profanity"]) == ("profanity",)
    assert not customer_complaint(reading, (), cutoffs=strict)
    assert customer_complaint(reading, ())


def test_readings_split_the_head_outputs() -> None:
    logits = np.zeros((1, HEAD_OUTPUTS), dtype=np.float32)
    logits[0, 0] = 5.0  # neg
    logits[0, 3] = 5.0  # complaint
    (reading,) = readings(logits)
    assert int(np.argmax(reading.sentiment)) == 0 and reading.complaint > 0.99
    assert all(abs(p - 0.5) < 1e-6 for p in reading.categories.values())


def test_v2_dev_holds_back_the_dev_split_of_v2_and_of_its_noised_copy(tmp_path: Path) -> None:
    v2 = [item for path in sorted(V2_DIR.glob("*.tsv")) for item in read_corpus(path)]
    source = sorted(V2_DIR.glob("*.tsv"))[0]
    noised = tmp_path / source.name
    lines = source.read_text(encoding="utf-8").splitlines()
    noised.write_text("\n".join([lines[0]] + [
        "\t".join([row.split("\t")[0] + "-asr", *row.split("\t")[1:]]) for row in lines[1:]
    ]) + "\n", encoding="utf-8")
    train, dev = training_items(noised_dir=tmp_path, v2_dev=True)
    held = {item.id for item in v2 if item.split == "dev"}
    assert held and held <= {item.id for item in dev}
    trained = {item.id for item in train}
    assert not held & trained
    assert not {item.id for item in read_corpus(noised) if item.split == "dev"} & trained
