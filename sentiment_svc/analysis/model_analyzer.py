"""Utterance analysis by the fine-tuned text model, with the lexicon adding categories (issue 23).

The model (`text_model.py`) proposes the sentiment, whether the customer complains and the
customer categories; it reads only the customer's utterances (the policy and every view read
the customer's sentiment). The complaint lexicon stays the contact centre's own: every category
its own file's patterns find is added to the model's, and one the bundled patterns find is
added unless the model all but rules it out (`Cutoffs.lexicon_floor`: the bundled phrases fire
on sarcastic «спасибо», a pleased «офигеть», trigger words in a neutral sentence). A bundled
complaint phrase in an utterance the model reads as negative always stands: those misfires are
in neutral or pleased speech, and a swear word the model misses in an angry outburst must still
reach the policy; negation and veto rules work as for `UtteranceAnalyzer`. A category the
lexicon found only negated or dismissed ("переходити до іншого оператора я не збираюся") is
taken from the model's too. The operator's words are read by the lexicon alone. When the model
reads a complaint that neither it nor the lexicon names a category for (and the lexicon denied
none), its most likely complaint category is added, since the escalation policy sees a
complaint only through its categories.

Same interface as `analyzer.UtteranceAnalyzer`, plus optional call context per utterance
(its earlier turns, ``C: …``/``O: …``, oldest first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sentiment_svc.analysis.analyzer import CHANNEL_CATEGORIES, NEUTRAL
from sentiment_svc.analysis.corpus import COMPLAINT_CATEGORIES, SENTIMENTS
from sentiment_svc.analysis.lexicon import CategoryMatch, ComplaintLexicon
from sentiment_svc.analysis.prosody import LoudnessReading
from sentiment_svc.analysis.text_model import TextModel, TextReading
from sentiment_svc.domain.vocabulary import Category
from sentiment_svc.frames import Channel, Sentiment, Transcript, UtteranceAnalysis

NEGATIVE = SENTIMENTS.index("neg")


@dataclass(frozen=True)
class Cutoffs:
    """How sure the model must be: of a category, of a complaint; and the least probability it
    must give a category the bundled lexicon found for that finding to stand (0: always)."""

    # Chosen by `tools.calibrate_cutoffs` on the corpus v2 dev split, which the committed
    # model never saw (BENCHMARKS.md "Fine-tuned model v3"): action accuracy 0.80 -> 0.84 there.
    category: float = 0.6
    complaint: float = 0.6
    lexicon_floor: float = 0.3


def customer_complaint(
    reading: TextReading, categories: Sequence[str], lexicon_denied: Sequence[str] = (),
    cutoffs: Cutoffs = Cutoffs(),
) -> bool:
    """The model reads a complaint, or a complaint category stands; a complaint the lexicon
    found only negated ("звать начальство не нужно") is none."""
    if set(categories) & set(COMPLAINT_CATEGORIES):
        return True
    return reading.complaint >= cutoffs.complaint and not lexicon_denied


def customer_categories(
    reading: TextReading, lexicon_found: Sequence[str], lexicon_denied: Sequence[str] = (),
    cutoffs: Cutoffs = Cutoffs(), own_found: Sequence[str] = (),
) -> tuple[str, ...]:
    """The model's categories (less those the lexicon found negated) and the lexicon's: those
    the model gives at least `cutoffs.lexicon_floor`, every complaint category when the model
    reads the utterance as negative, and every one the contact centre's own patterns found
    (`own_found`); a complaint category if the model reads a complaint that none of them
    names."""
    negative = int(reading.sentiment.argmax()) == NEGATIVE
    lexicon = {name for name in lexicon_found
               if (negative and name in COMPLAINT_CATEGORIES)
               or reading.categories.get(name, 1.0) >= cutoffs.lexicon_floor} | set(own_found)
    found = (set(reading.found_categories(cutoffs.category)) - set(lexicon_denied)) | lexicon
    # A complaint read with no category named: its likeliest category, unless the lexicon
    # denied one (then the complaint the model read is most likely that negated phrase).
    if (reading.complaint >= cutoffs.complaint and not lexicon_denied
            and not found & set(COMPLAINT_CATEGORIES)):
        found.add(max(COMPLAINT_CATEGORIES, key=lambda name: reading.categories[name]))
    return tuple(sorted(found))


@dataclass
class ModelAnalyzer:
    model: TextModel
    lexicon: ComplaintLexicon
    cutoffs: Cutoffs = Cutoffs()

    @property
    def reads_context(self) -> bool:
        """Whether the call's earlier turns inform the reading (a context budget is set)."""
        return self.model.inputs.context_tokens > 0

    def analyze(
        self,
        transcripts: Sequence[Transcript],
        loudness: Sequence[LoudnessReading],
        contexts: Sequence[Sequence[str]] | None = None,
    ) -> list[UtteranceAnalysis]:
        """Blocking (runs the model); call from a worker thread."""
        contexts = contexts if contexts is not None else [()] * len(transcripts)
        if len(contexts) != len(transcripts):
            raise ValueError(f"{len(contexts)} contexts for {len(transcripts)} transcripts")
        # Only customers' words go through the model: the policy and every view read the
        # customer's sentiment, and the operator's categories are the lexicon's alone.
        spoken = [index for index, item in enumerate(transcripts)
                  if item.text and item.segment.channel is Channel.CUSTOMER]
        found = self.model.read([transcripts[i].text for i in spoken],
                                [contexts[i] for i in spoken])
        readings: dict[int, TextReading] = dict(zip(spoken, found, strict=True))
        out = []
        for index, (transcript, reading) in enumerate(zip(transcripts, loudness, strict=True)):
            model_reading = readings.get(index)
            sentiment, categories, complaint = NEUTRAL, (), None
            if model_reading is not None:
                neg, neu, pos = (float(p) for p in model_reading.sentiment)
                sentiment = Sentiment(neg=neg, neu=neu, pos=pos)
                categories, complaint = self._customer_categories(transcript, model_reading)
            elif transcript.text:
                categories = self._operator_categories(transcript)
            out.append(UtteranceAnalysis(
                channel=transcript.segment.channel, start=transcript.segment.start,
                end=transcript.segment.end, lang=transcript.lang, text=transcript.text,
                sentiment=sentiment, categories=categories,
                loudness_db=reading.relative_db, raised_voice=reading.raised_voice,
                complaint=complaint,
            ))
        return out

    def _lexicon(self, transcript: Transcript) -> tuple[list[CategoryMatch], list[CategoryMatch]]:
        """The lexicon's matches in the utterance: those that stand (not negated, a category of
        the speaker's channel), and all of them."""
        wanted = CHANNEL_CATEGORIES[transcript.segment.channel]
        matches = self.lexicon.match(transcript.text, transcript.lang)
        return [m for m in matches if not m.negated and m.category in wanted], matches

    def _operator_categories(self, transcript: Transcript) -> tuple[Category, ...]:
        heard, _ = self._lexicon(transcript)
        return tuple(Category(c) for c in sorted({m.category for m in heard}))

    def _customer_categories(
        self, transcript: Transcript, reading: TextReading
    ) -> tuple[tuple[Category, ...], bool]:
        """The utterance's categories, and whether the customer complains."""
        heard, matches = self._lexicon(transcript)
        lexicon = sorted({m.category for m in heard})
        denied = sorted({m.category for m in matches if m.negated} - set(lexicon))
        own = sorted({m.category for m in heard if m.own})
        found = customer_categories(reading, lexicon, denied, self.cutoffs, own)
        return (tuple(Category(c) for c in found),
                customer_complaint(reading, found, denied, self.cutoffs))
