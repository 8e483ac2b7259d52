"""The pipeline's values (`sentiment_svc.frames`) as the messages a call publishes.

Rounded here, once: times to 10 ms, scores to 0.001, loudness to 0.1 dB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentiment_svc.domain.messages import (
    AlertAcked,
    AlertMessage,
    SentimentScores,
    UtteranceMessage,
)
from sentiment_svc.domain.vocabulary import OUTCOME_OF_ACTION, AckSource

if TYPE_CHECKING:
    from sentiment_svc.frames import Alert, AlertAddressed, UtteranceAnalysis


def utterance_message(
    utterance: UtteranceAnalysis, *, call_id: str | None = None,
    operator_id: str | None = None, seq: int | None = None,
) -> UtteranceMessage:
    sentiment = utterance.sentiment
    return UtteranceMessage(
        call_id=call_id, operator_id=operator_id, seq=seq, channel=utterance.channel,
        start=round(utterance.start, 2), end=round(utterance.end, 2), lang=utterance.lang,
        text=utterance.text,
        sentiment=SentimentScores(
            neg=round(sentiment.neg, 3), neu=round(sentiment.neu, 3), pos=round(sentiment.pos, 3)
        ),
        categories=utterance.categories, loudness_db=round(utterance.loudness_db, 1),
        raised_voice=utterance.raised_voice,
    )


def alert_message(
    alert: Alert, *, call_id: str | None = None, operator_id: str | None = None,
    alert_id: str | None = None,
) -> AlertMessage:
    return AlertMessage(
        call_id=call_id, operator_id=operator_id, alert_id=alert_id, t=round(alert.t, 2),
        action=alert.action, severity=alert.severity, reason=alert.reason,
        evidence=alert.evidence, categories=alert.categories,
    )


def addressed_message(
    event: AlertAddressed, *, call_id: str | None = None, operator_id: str | None = None,
    alert_id: str | None = None,
) -> AlertAcked:
    """The operator was heard doing what the alert suggested."""
    return AlertAcked(
        call_id=call_id, operator_id=operator_id, alert_id=alert_id,
        outcome=OUTCOME_OF_ACTION[event.alert.action], source=AckSource.SPEECH,
        action=event.alert.action, t=round(event.t, 2), alert_t=round(event.alert.t, 2),
        seconds_to_address=round(event.seconds_to_address, 2), evidence=(event.evidence,),
    )
