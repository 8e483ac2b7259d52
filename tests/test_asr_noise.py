"""Recognition noise for the training corpus (`tools/asr_noise.py`) and the classifier that
measures Whisper's slips (`tools/measure_asr_noise.py`): deterministic copies, labels and ids
by the rules, the held-out set refused, every kind of slip made and recognised, and the
default rates giving the measured word error rate. No models."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import jiwer
import pytest

from sentiment_svc.analysis.corpus import BUNDLED, read_corpus
from tests.conftest import ROOT
from tools.asr_language import digits_to_words, words_to_digits
from tools.asr_noise import (
    DEFAULT_RATES,
    SLIPS,
    Kind,
    Noiser,
    NoiseRates,
    noise_files,
    noise_item,
    parse_rates,
)
from tools.measure_asr_noise import Tally, align, fit_rates, measure, words

V2 = ROOT / "corpus" / "v2"
HELD_OUT = ROOT / "tests" / "data" / "heldout"
PAIRS = ROOT / "tools" / "asr_noise_pairs.jsonl"  # scripts and what Whisper base wrote
LOUD = NoiseRates(ending=0.3, merge=0.3, split=0.3, homophone=0.3, misheard=0.2, digits=1.0,
                  drop=0.3, filler=0.1, punct=0.5)
WER_TOLERANCE = 0.03


@pytest.fixture(scope="module")
def bundled():
    return [item for path in BUNDLED for item in read_corpus(path)]


def noisers(rates: NoiseRates, items=()) -> dict[str, Noiser]:
    vocabulary = {w for item in items for w in words(item.text)}
    return {lang: Noiser(lang, rates, vocabulary) for lang in ("ru", "uk")}


def test_the_same_seed_gives_the_same_noise_and_another_seed_other_noise(bundled):
    sample = bundled[:200]
    by = noisers(NoiseRates(), sample)
    first = [noise_item(item, by[item.lang], seed=7) for item in sample]
    again = [noise_item(item, noisers(NoiseRates(), sample)[item.lang], seed=7)
             for item in reversed(sample)]  # order and a fresh noiser change nothing
    assert [copy for copy, _ in first] == [copy for copy, _ in reversed(again)]
    other = [noise_item(item, by[item.lang], seed=8)[0].text for item in sample]
    assert sum(a != b for (a, _), b in zip(first, other, strict=True)) > 20


def test_copies_keep_labels_and_split_and_carry_the_slips_tag(tmp_path, bundled):
    inputs = [*BUNDLED, V2 / "ru_c.tsv"]
    summary = noise_files(inputs, tmp_path / "noised", seed=0)
    originals = {item.id: item for path in inputs for item in read_corpus(path)}
    copies = [item for path in inputs for item in read_corpus(tmp_path / "noised" / path.name)]
    assert summary["lines"] == len(originals) and summary["written"] == len(copies)
    assert summary["all"]["utterances"] == len(originals) > summary["ru"]["utterances"] > 0
    assert 0.3 * len(originals) < len(copies) < len(originals)  # unchanged lines not written
    for copy in copies:
        source = originals[copy.id.rsplit("-asr", 1)[0]]
        assert copy.id.rsplit("-asr", 1)[1] in ("", *map(str, range(1, 100)))
        assert copy.id not in originals and copy.split == source.split
        assert (copy.lang, copy.sentiment, copy.complaint, copy.categories, copy.action) == (
            source.lang, source.sentiment, source.complaint, source.categories, source.action)
        assert SLIPS in copy.tags and "plain" not in copy.tags
        assert set(source.tags) - {"plain"} <= set(copy.tags)
        assert len(copy.context) == len(source.context)
        assert [t[:2] for t in copy.context] == [t[:2] for t in source.context]
        assert copy.text != source.text or copy.context != source.context
    assert len({copy.id for copy in copies}) == len(copies)
    assert any(copy.id.endswith("-asr") for copy in copies)
    assert any(not copy.id.endswith("-asr") for copy in copies)  # a counter kept the split


@pytest.mark.parametrize("where", ["input", "output"])
def test_the_held_out_set_is_refused(tmp_path, where):
    inputs = [HELD_OUT / "ru.tsv"] if where == "input" else list(BUNDLED)
    out = tmp_path / "x" if where == "input" else HELD_OUT / "noised"
    with pytest.raises(SystemExit, match="held-out"):
        noise_files(inputs, out)
    assert not (HELD_OUT / "noised").exists() and not (tmp_path / "x").exists()


def test_copies_never_overwrite_their_input(tmp_path):
    source = tmp_path / "corpus_ru.tsv"
    source.write_bytes(BUNDLED[0].read_bytes())
    with pytest.raises(SystemExit, match="input"):
        noise_files([source], tmp_path)
    assert source.read_bytes() == BUNDLED[0].read_bytes()


def test_every_kind_fires_and_the_measurement_recognises_it(bundled):
    sample = [item for item in bundled if item.lang == "ru"][:150]
    sample += [item for item in bundled if item.lang == "uk"][:150]
    texts = [(item.text, item.lang) for item in sample]
    texts += [("Верните три тысячи рублей, я жду 2 недели.", "ru"),
              ("Поверніть три тисячі гривень, я чекаю 2 тижні.", "uk")]
    by = noisers(LOUD, sample)
    made, tally = {"ru": set(), "uk": set()}, Tally()
    for k, (text, lang) in enumerate(texts):
        noised, done = by[lang].noise(text, random.Random(k))
        made[lang].update(done)
        tally.add(text, noised, lang)
    assert made["ru"] == made["uk"] == set(Kind)
    assert all(tally.slips[kind] > 0 for kind in Kind), tally.slips


@pytest.mark.parametrize("lang", ["ru", "uk"])
def test_default_rates_give_the_measured_word_error_rate(lang):
    rates = DEFAULT_RATES[lang]
    items = read_corpus(V2 / f"{lang}_a.tsv")[:600]
    noiser = Noiser(lang, rates, {w for item in items for w in words(item.text)})
    refs, hyps = [], []
    for item in items:
        copy, _ = noise_item(item, noiser, seed=0)
        refs.append(" ".join(words(item.text)))
        hyps.append(" ".join(words(copy.text)))
    wer = jiwer.wer(refs, hyps)
    assert abs(wer - rates.target_wer) <= WER_TOLERANCE, (wer, rates.target_wer)
    quiet = Noiser(lang, replace(rates, **{kind.value: 0.0 for kind in Kind}))
    assert all(noise_item(item, quiet, 0)[0].text == item.text for item in items)


def test_rates_are_set_per_language_from_the_command_line():
    rates = parse_rates(["drop=0.5", "uk:ending=0.25"])
    assert rates["ru"].drop == rates["uk"].drop == 0.5
    assert rates["uk"].ending == 0.25 and rates["ru"].ending == DEFAULT_RATES["ru"].ending
    with pytest.raises(SystemExit, match="KIND"):
        parse_rates(["be:drop=0.5"])


def test_numbers_are_written_as_digits_and_read_as_words():
    assert words_to_digits(["три", "тысячи", "пятьсот"], "ru") == "3500"
    assert words_to_digits(["один", "два", "три", "четыре", "пять"], "ru") == "12345"
    assert words_to_digits(["двісті", "п'ятдесят"], "uk") == "250"
    assert digits_to_words("3000", "ru") == "три тысячи"
    assert digits_to_words("21000", "ru") == "двадцать одна тысяча"
    assert digits_to_words("2500", "uk") == "дві тисячі п'ятсот"
    assert digits_to_words("0441", "uk") == "нуль чотири чотири один"


def test_the_alignment_finds_merges_splits_and_classifies_slips():
    ops = align(words("я не могу по этому поводу"), words("я немогу поэтому по воду"))
    assert [op for op, _, _ in ops] == ["equal", "merge", "merge", "split"]
    tally = Tally()
    tally.add("Карту заблокировали, верните три тысячи!", "карта заблокировал вирните 3000", "ru")
    tally.add("Мені не допомогли в банку.", "ну мені не допамогли банку", "uk")
    assert {kind for kind in Kind if tally.slips[kind]} == {
        Kind.ENDING, Kind.HOMOPHONE, Kind.DIGITS, Kind.PUNCT, Kind.DROP, Kind.FILLER}
    assert tally.slips[Kind.ENDING] == 2 and tally.slips[Kind.DIGITS] == 1
    summary = tally.summary()
    assert summary["words"] == 10
    assert summary["wer"] == pytest.approx(jiwer.wer(
        ["карту заблокировали верните три тысячи", "мені не допомогли в банку"],
        ["карта заблокировал вирните 3000", "ну мені не допамогли банку"]), abs=1e-3)


def test_fitted_rates_reproduce_a_measured_error_rate_and_mix(bundled):
    # "Measured": the noise of known rates on one half; fitted on the other half, the rates
    # found make about the same WER there, from the same kinds.
    ru = [item for item in bundled if item.lang == "ru"]
    known = NoiseRates(ending=0.1, merge=0.05, split=0.0, homophone=0.02, misheard=0.03,
                       digits=0.0, drop=0.1, filler=0.0, punct=0.0)
    noiser, measured = Noiser("ru", known, {w for i in ru for w in words(i.text)}), Tally()
    for item in ru[::2]:
        measured.add(item.text, noise_item(item, noiser, seed=3)[0].text, "ru")
    summary = measured.summary()
    fitted = fit_rates(summary, ru[1::2], "ru", rounds=3)
    assert fitted.target_wer == summary["wer"]
    check = Tally()
    for item in ru[1::2]:
        check.add(item.text, noise_item(item, Noiser("ru", fitted), seed=5)[0].text, "ru")
    assert check.summary()["wer"] == pytest.approx(summary["wer"], abs=WER_TOLERANCE)
    assert fitted.split == fitted.digits == fitted.filler == fitted.punct == 0.0  # never made
    assert fitted.ending > fitted.homophone and fitted.drop > fitted.merge


def test_the_default_rates_are_those_fitted_to_the_recorded_whisper_output():
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    assert {pair["set"] for pair in pairs} == {"scripted", "prompts"}
    for lang in ("ru", "uk"):
        measured = measure([pair for pair in pairs if pair["lang"] == lang])
        assert measured["utterances"] > 150
        assert DEFAULT_RATES[lang].target_wer == measured["wer"]
        for kind in (Kind.DIGITS, Kind.PUNCT):  # kept per place, as measured
            assert getattr(DEFAULT_RATES[lang], kind.value) == measured["kinds"][kind]["rate"]
