"""The JSON shape of pipeline events: one contract for `analyze`, live feeds and replay."""

from __future__ import annotations

from typing import Any

from sentiment_svc.frames import Alert, AlertAddressed, UtteranceAnalysis
from sentiment_svc.pipeline import CallSummary, Event


def event_to_dict(event: Event) -> dict[str, Any]:
    if isinstance(event, UtteranceAnalysis):
        return {
            "type": "utterance",
            "channel": event.channel.value,
            "start": round(event.start, 2),
            "end": round(event.end, 2),
            "lang": event.lang,
            "text": event.text,
            "sentiment": {
                "neg": round(event.sentiment.neg, 3),
                "neu": round(event.sentiment.neu, 3),
                "pos": round(event.sentiment.pos, 3),
            },
            "categories": list(event.categories),
            "loudness_db": round(event.loudness_db, 1),
        }
    if isinstance(event, Alert):
        return {
            "type": "alert",
            "t": round(event.t, 2),
            "action": event.action,
            "severity": event.severity,
            "reason": event.reason,
            "evidence": list(event.evidence),
        }
    if isinstance(event, AlertAddressed):
        return {
            "type": "addressed",
            "t": round(event.t, 2),
            "action": event.alert.action,
            "alert_t": round(event.alert.t, 2),
            "seconds_to_address": round(event.seconds_to_address, 2),
            "evidence": [event.evidence],
        }
    if isinstance(event, CallSummary):
        return {
            "type": "summary",
            "duration": event.duration,
            "utterances": event.utterances,
            "alerts": event.alerts,
            "negative_share": event.negative_share,
            "csat_estimate": event.csat_estimate,
        }
    raise TypeError(f"not a pipeline event: {event!r}")
