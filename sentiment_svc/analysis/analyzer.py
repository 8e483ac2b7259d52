"""Text and voice analysis of recognised utterances, batched across utterances and calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from sentiment_svc.analysis.batching import TextEncoder
from sentiment_svc.analysis.lexicon import ComplaintLexicon
from sentiment_svc.analysis.prosody import LoudnessReading
from sentiment_svc.analysis.sentiment import SentimentHead
from sentiment_svc.domain.vocabulary import CUSTOMER_CATEGORIES, OPERATOR_CATEGORIES, Category
from sentiment_svc.frames import Channel, Sentiment, Transcript, UtteranceAnalysis

NEUTRAL = Sentiment(neg=0.0, neu=1.0, pos=0.0)
# The customer's words are read for complaints; the operator's for what they did about them.
CHANNEL_CATEGORIES = {
    Channel.CUSTOMER: frozenset(CUSTOMER_CATEGORIES),
    Channel.OPERATOR: frozenset(OPERATOR_CATEGORIES),
}


@dataclass
class UtteranceAnalyzer:
    encoder: TextEncoder
    head: SentimentHead
    lexicon: ComplaintLexicon
    reads_context: ClassVar[bool] = False  # each utterance is read on its own

    def analyze(
        self, transcripts: Sequence[Transcript], loudness: Sequence[LoudnessReading]
    ) -> list[UtteranceAnalysis]:
        """Blocking (runs the e5 encoder); call from a worker thread."""
        categories = [self._categories(transcript) for transcript in transcripts]
        spoken = [index for index, item in enumerate(transcripts) if item.text]
        sentiments = [NEUTRAL] * len(transcripts)
        if spoken:
            embeddings = self.encoder.embed([transcripts[index].text for index in spoken])
            # The customer's complaint categories sharpen the head; the operator's speech
            # (other categories) is read by the text alone.
            customer = [
                transcripts[index].segment.channel is Channel.CUSTOMER for index in spoken
            ]
            if all(customer):
                found = self.head.predict(embeddings, [categories[index] for index in spoken])
            else:
                found = self.head.predict(embeddings)
            for index, sentiment in zip(spoken, found, strict=True):
                sentiments[index] = sentiment
        return [
            UtteranceAnalysis(
                channel=transcript.segment.channel,
                start=transcript.segment.start,
                end=transcript.segment.end,
                lang=transcript.lang,
                text=transcript.text,
                sentiment=sentiment,
                categories=found_categories,
                loudness_db=reading.relative_db,
                raised_voice=reading.raised_voice,
            )
            for transcript, sentiment, found_categories, reading in zip(
                transcripts, sentiments, categories, loudness, strict=True
            )
        ]

    def _categories(self, transcript: Transcript) -> tuple[Category, ...]:
        if not transcript.text:
            return ()
        wanted = CHANNEL_CATEGORIES[transcript.segment.channel]
        found = self.lexicon.categories(transcript.text, transcript.lang)
        return tuple(Category(category) for category in found if category in wanted)
