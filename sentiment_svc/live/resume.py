"""Resuming a call on another instance: a native client reconnected with the same call id
after the instance running it died (or its connection dropped).

What the store has for the call is brought back into the new `LiveCall`: its utterances
are observed again by the escalation state (score, level, complaint categories heard, the
evidence window), the alerts it raised set the cooldowns, and those not yet acknowledged
stay open, so the operator's later apology still answers them. The new audio continues the
call's timeline where its recording ends (the recording is appended to), so the stored
utterances and alerts of both parts line up with the one recording.
"""

from __future__ import annotations

import logging

from sentiment_svc.domain.convert import alert_message
from sentiment_svc.domain.records import CallDetail
from sentiment_svc.frames import Alert, Sentiment, UtteranceAnalysis
from sentiment_svc.live.call import LiveCall

log = logging.getLogger(__name__)


def restore_call(call: LiveCall, stored: CallDetail, recorded_s: float) -> None:
    """Bring `stored` (the call as the store has it) into `call`, whose audio continues at
    `recorded_s` seconds of the call (the recording's length)."""
    offset = max([recorded_s, *(u.end for u in stored.utterances), *(a.t for a in stored.alerts)])
    call.offset_s = offset
    call.info.started_at = stored.started_at
    utterances = [
        UtteranceAnalysis(
            channel=u.channel, start=u.start - offset, end=u.end - offset, lang=u.lang,
            text=u.text, sentiment=Sentiment(u.sentiment.neg, u.sentiment.neu, u.sentiment.pos),
            categories=u.categories, loudness_db=u.loudness_db, raised_voice=u.raised_voice,
        )
        for u in stored.utterances
    ]
    fired: list[Alert] = []
    unanswered: list[Alert] = []
    for stored_alert in stored.alerts:
        alert = Alert(t=stored_alert.t - offset, action=stored_alert.action,
                      severity=stored_alert.severity, reason=stored_alert.reason,
                      evidence=stored_alert.evidence, categories=stored_alert.categories)
        fired.append(alert)
        call.remember_alert(alert, stored_alert.alert_id)
        if not stored_alert.acks:
            unanswered.append(alert)
    call.pipeline.state.restore(utterances, fired, unanswered)
    call.sentiment_trend = [
        round(u.sentiment.pos - u.sentiment.neg, 3) for u in stored.utterances
        if u.channel == "customer"
    ]
    if stored.alerts:
        last = stored.alerts[-1]
        call.last_alert = alert_message(
            fired[-1], call_id=stored.call_id, operator_id=stored.operator_id,
            alert_id=last.alert_id,
        ).model_copy(update={"t": last.t})
