"""The deterministic rules behind a contact's CX measures: predicted CSAT, customer effort
(CES) and the NPS risk band, each with the reasons that moved it.

No survey answers exist to train on, so these are documented rules, not a model: each
signal the store keeps adds or takes a fixed, capped amount (the constants below), and the
README's "CX measures" section says why and where the rules stop.

Signals used (all from the stored contact, `domain.records.CallDetail`, and the customer's
earlier contacts, `domain.records.CustomerPast` for the window before this one):

- effort: earlier contacts of the customer (a repeat contact), a complaint category an
  earlier contact raised again, the customer saying it contacts again (``repeat_contact``)
  or complaining of waiting (``waiting``), transfers (operator utterances categorised
  ``operator_transferred``), holds (gaps of `HOLD_GAP_S` with nobody speaking, which a hold
  or a ``pause`` of the native protocol leaves), key presses (DTMF: IVR menus, typed
  numbers), a long contact, and a contact that dropped.
- not there yet, so not used: time queued before an operator answered (no telephony
  platform reports it to the service), transfers between queues that no one announces in
  speech, and channel switches (a contact's channel is not stored for calls; once text
  contacts are stored beside calls, `PRIOR_CONTACTS` counts them too, but which channel
  each came from does not move the score).
- CSAT: the customer's tone (mean and at the end), complaint categories, thanks, what became
  of the prompts (`followthrough`), the effort score and a dropped contact.
- NPS risk: threats to leave or sue, requests for a supervisor, a low CSAT, a high effort,
  a complaint repeated from an earlier contact; thanks lowers it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sentiment_svc.cx.followthrough import AlertFollowThrough, balance, follow_through, rounded
from sentiment_svc.cx.measures import ContactCx, CxReason, NpsRisk, Reason, RiskBand, Score
from sentiment_svc.domain.records import CallDetail, CustomerPast
from sentiment_svc.domain.vocabulary import (
    COMPLAINT_CATEGORIES,
    CallStatus,
    Category,
    Channel,
)

SCALE = (1.0, 5.0)
HISTORY_DAYS = 30  # earlier contacts counted as repeats

# effort (CES), 1 = very low .. 5 = very high
EFFORT_BASE = 1.0
PER_PRIOR_CONTACT, PRIOR_CONTACTS_CAP = 0.5, 1.5
REPEATED_COMPLAINT_EFFORT = 0.5
REPEAT_STATED_EFFORT = 0.75
WAITING_STATED_EFFORT = 0.5
PER_TRANSFER, TRANSFERS_CAP = 0.5, 1.0
HOLD_GAP_S = 20.0  # this long with nobody speaking counts as a hold
PER_HOLD, HOLDS_CAP = 0.25, 0.75
KEYPAD_MIN_PRESSES, KEYPAD_EFFORT = 3, 0.25
LONG_CONTACT_S, LONG_CONTACT_EFFORT = 600.0, 0.5
DROPPED_EFFORT = 0.5

# CSAT, 1 = very dissatisfied .. 5 = very satisfied
CSAT_BASE = 3.0
SENTIMENT_WEIGHT = 2.0  # times the mean pos-neg (-1..1)
ENDING_UTTERANCES, ENDING_WEIGHT = 2, 0.5
PER_COMPLAINT, COMPLAINTS_CAP = -0.25, -1.0
GRATITUDE_CSAT = 0.5
PER_ADDRESSED, ADDRESSED_CAP = 0.25, 0.5
PER_UNADDRESSED, UNADDRESSED_CAP = -0.25, -0.75
HIGH_EFFORT_FROM, PER_EFFORT_POINT, HIGH_EFFORT_CAP = 3.0, -0.5, -1.0
DROPPED_CSAT = -0.5

# NPS risk points and bands
CHURN_POINTS, LEGAL_POINTS, ESCALATION_POINTS = 3.0, 2.0, 1.0
LOW_CSAT_POINTS = ((2.0, 2.0), (2.9, 1.0))  # (CSAT at most, points): first match
HIGH_EFFORT_POINTS = ((4.0, 2.0), (3.0, 1.0))  # (effort at least, points): first match
REPEATED_COMPLAINT_POINTS = 1.0
GRATITUDE_POINTS = -1.0
HIGH_RISK_FROM, MEDIUM_RISK_FROM = 4.0, 2.0


def measure_contact(call: CallDetail, prior: CustomerPast | None) -> ContactCx:
    """The contact's measures. `prior`: the customer's contacts in the `HISTORY_DAYS`
    before this one (None for a contact without a known customer)."""
    alerts = follow_through(call)
    effort_score = effort(call, prior)
    csat_score = csat(call, alerts, effort_score)
    return ContactCx(
        call_id=call.call_id, csat=csat_score, effort=effort_score,
        nps_risk=nps_risk(call, csat_score, effort_score, prior),
    )


def effort(call: CallDetail, prior: CustomerPast | None) -> Score:
    said = _customer_categories(call)
    transfers = sum(
        Category.OPERATOR_TRANSFERRED in u.categories
        for u in call.utterances if u.channel is Channel.OPERATOR
    )
    holds = hold_count(call)
    presses = sum(len(d.digits) for d in call.dtmf)
    reasons = [
        _capped(CxReason.PRIOR_CONTACTS, prior.previous_calls if prior else 0,
                PER_PRIOR_CONTACT, PRIOR_CONTACTS_CAP),
        _flag(CxReason.REPEATED_COMPLAINT, bool(repeated_complaints(call, prior)),
              REPEATED_COMPLAINT_EFFORT),
        _flag(CxReason.REPEAT_STATED, Category.REPEAT_CONTACT in said, REPEAT_STATED_EFFORT),
        _flag(CxReason.WAITING_STATED, Category.WAITING in said, WAITING_STATED_EFFORT),
        _capped(CxReason.TRANSFERS, transfers, PER_TRANSFER, TRANSFERS_CAP),
        _capped(CxReason.HOLDS, holds, PER_HOLD, HOLDS_CAP),
        _flag(CxReason.KEYPAD, presses >= KEYPAD_MIN_PRESSES, KEYPAD_EFFORT, presses),
        _flag(CxReason.LONG_CONTACT, duration(call) >= LONG_CONTACT_S, LONG_CONTACT_EFFORT),
        _flag(CxReason.CONTACT_DROPPED, _dropped(call), DROPPED_EFFORT),
    ]
    return _score(EFFORT_BASE, reasons)


def csat(call: CallDetail, alerts: Iterable[AlertFollowThrough], effort_score: Score) -> Score:
    customer = sorted(
        (u for u in call.utterances if u.channel is Channel.CUSTOMER), key=lambda u: u.start
    )
    reasons: list[Reason | None] = []
    if customer:
        mean = sum(balance(u) for u in customer) / len(customer)
        ending = customer[-ENDING_UTTERANCES:]
        reasons.append(_reason(CxReason.SENTIMENT, SENTIMENT_WEIGHT * mean, len(customer)))
        reasons.append(_reason(
            CxReason.ENDING_TONE,
            ENDING_WEIGHT * sum(balance(u) for u in ending) / len(ending), len(ending),
        ))
    said = _customer_categories(call)
    complaints = [c for c in COMPLAINT_CATEGORIES if c in said]
    alerts = list(alerts)
    addressed = sum(a.addressed for a in alerts)
    reasons += [
        _capped(CxReason.COMPLAINTS, len(complaints), PER_COMPLAINT, COMPLAINTS_CAP),
        _flag(CxReason.GRATITUDE, Category.GRATITUDE in said, GRATITUDE_CSAT),
        _capped(CxReason.ALERTS_ADDRESSED, addressed, PER_ADDRESSED, ADDRESSED_CAP),
        _capped(CxReason.ALERTS_UNADDRESSED, len(alerts) - addressed, PER_UNADDRESSED,
                UNADDRESSED_CAP),
        _flag(CxReason.HIGH_EFFORT, effort_score.value > HIGH_EFFORT_FROM,
              max(HIGH_EFFORT_CAP, PER_EFFORT_POINT * (effort_score.value - HIGH_EFFORT_FROM))),
        _flag(CxReason.CONTACT_DROPPED, _dropped(call), DROPPED_CSAT),
    ]
    return _score(CSAT_BASE, reasons)


def nps_risk(
    call: CallDetail, csat_score: Score, effort_score: Score, prior: CustomerPast | None
) -> NpsRisk:
    said = _customer_categories(call)
    low_csat = next((p for limit, p in LOW_CSAT_POINTS if csat_score.value <= limit), 0.0)
    high_effort = next((p for floor, p in HIGH_EFFORT_POINTS if effort_score.value >= floor),
                       0.0)
    reasons = [
        _flag(CxReason.CHURN_THREAT, Category.CHURN_THREAT in said, CHURN_POINTS),
        _flag(CxReason.LEGAL_THREAT, Category.LEGAL_THREAT in said, LEGAL_POINTS),
        _flag(CxReason.ESCALATION_REQUEST, Category.ESCALATION_REQUEST in said,
              ESCALATION_POINTS),
        _flag(CxReason.LOW_CSAT, low_csat > 0, low_csat),
        _flag(CxReason.HIGH_EFFORT, high_effort > 0, high_effort),
        _flag(CxReason.REPEATED_COMPLAINT, bool(repeated_complaints(call, prior)),
              REPEATED_COMPLAINT_POINTS),
        _flag(CxReason.GRATITUDE, Category.GRATITUDE in said, GRATITUDE_POINTS),
    ]
    kept = tuple(r for r in reasons if r is not None)
    points = rounded(max(0.0, sum(r.contribution for r in kept)))
    band = (RiskBand.HIGH if points >= HIGH_RISK_FROM
            else RiskBand.MEDIUM if points >= MEDIUM_RISK_FROM else RiskBand.LOW)
    return NpsRisk(band=band, points=points, reasons=kept)


# -- signals ------------------------------------------------------------------------------

def duration(call: CallDetail) -> float:
    if call.summary is not None:
        return call.summary.duration
    if call.ended_at is not None:
        return max(0.0, call.ended_at - call.started_at)
    return max((u.end for u in call.utterances), default=0.0)


def hold_count(call: CallDetail) -> int:
    """Stretches of at least `HOLD_GAP_S` with nobody speaking, from the contact's start to
    its last utterance (the silence after the last one is the hang-up, not a hold)."""
    holds, heard_until = 0, 0.0
    for utterance in sorted(call.utterances, key=lambda u: u.start):
        if utterance.start - heard_until >= HOLD_GAP_S:
            holds += 1
        heard_until = max(heard_until, utterance.end)
    return holds


def repeated_complaints(call: CallDetail, prior: CustomerPast | None) -> list[Category]:
    """Complaint categories of this contact that an earlier contact raised too."""
    if prior is None:
        return []
    said = _customer_categories(call)
    return [c for c in COMPLAINT_CATEGORIES if c in said and prior.categories.get(c, 0) > 0]


def _customer_categories(call: CallDetail) -> set[Category]:
    return {c for u in call.utterances if u.channel is Channel.CUSTOMER for c in u.categories}


def _dropped(call: CallDetail) -> bool:
    return call.status in (CallStatus.INTERRUPTED, CallStatus.FAILED)


# -- shaping ------------------------------------------------------------------------------

def _reason(code: CxReason, contribution: float, count: int | None = None) -> Reason:
    return Reason(code=code, contribution=rounded(contribution), count=count)


def _flag(code: CxReason, present: bool, contribution: float,
          count: int | None = None) -> Reason | None:
    return _reason(code, contribution, count) if present else None


def _capped(code: CxReason, count: int, each: float, cap: float) -> Reason | None:
    """`count` times `each`, no further than `cap` (same sign)."""
    if count <= 0:
        return None
    total = count * each
    return _reason(code, max(total, cap) if each < 0 else min(total, cap), count)


def _score(base: float, reasons: list[Reason | None]) -> Score:
    kept = tuple(r for r in reasons if r is not None and r.contribution != 0)
    low, high = SCALE
    value = min(high, max(low, base + sum(r.contribution for r in kept)))
    # half up (3.25 -> 3.3), as a person rounds; the epsilon absorbs sums like 3.2499999
    return Score(value=math.floor(value * 10 + 0.5 + 1e-9) / 10, base=base, reasons=kept)
