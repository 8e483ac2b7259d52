"""Exporting a stored call (`domain.records.CallDetail`) as CSV for spreadsheets.

One row per utterance; the alerts that fired on an utterance (and their acks) are joined
into its row. An alert fires at the end of the customer utterance that triggered it, so it
goes to the utterance ending at its ``t`` (a customer one first), else to the last one that
ended before it; alerts of a call without utterances get rows of their own. The text is
UTF-8 with a byte-order mark (so Excel reads Cyrillic), and cells that a spreadsheet would
run as a formula (starting with ``= + - @``) are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sentiment_svc.domain.records import CallDetail, StoredAlert, StoredUtterance

COLUMNS = (
    "call_id", "seq", "channel", "start", "end", "lang", "text", "neg", "neu", "pos",
    "categories", "loudness_db", "alert_ids", "alert_actions", "alert_severities",
    "alert_reasons", "ack_outcomes",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def assign_alerts(
    utterances: tuple[StoredUtterance, ...], alerts: tuple[StoredAlert, ...]
) -> dict[int | None, list[StoredAlert]]:
    """Alerts grouped by the ``seq`` of the utterance they belong to (None: no utterance)."""
    groups: dict[int | None, list[StoredAlert]] = {}
    for alert in alerts:
        t = round(alert.t, 2)
        exact = [u for u in utterances if round(u.end, 2) == t]
        exact.sort(key=lambda u: u.channel != "customer")
        before = [u for u in utterances if u.end <= t]
        home = (exact or before[-1:] or list(utterances[:1]) or [None])[0]
        groups.setdefault(None if home is None else home.seq, []).append(alert)
    return groups


def call_to_csv(call: CallDetail) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    groups = assign_alerts(call.utterances, call.alerts)
    rows: list[tuple[StoredUtterance | None, list[StoredAlert]]] = [
        (u, groups.get(u.seq, [])) for u in call.utterances
    ]
    rows.extend((None, [alert]) for alert in groups.get(None, []))
    for utterance, alerts in rows:
        if utterance is None:
            cells: tuple[Any, ...] = ("",) * 11
        else:
            sentiment = utterance.sentiment
            cells = (
                utterance.seq, utterance.channel, utterance.start, utterance.end, utterance.lang,
                utterance.text, sentiment.neg, sentiment.neu, sentiment.pos,
                ";".join(utterance.categories), utterance.loudness_db,
            )
        writer.writerow(spreadsheet_cell(value) for value in (
            call.call_id, *cells,
            " | ".join(a.alert_id for a in alerts),
            " | ".join(a.action for a in alerts),
            " | ".join(a.severity for a in alerts),
            " | ".join(a.reason for a in alerts),
            " | ".join(ack.outcome for a in alerts for ack in a.acks),
        ))
    return out.getvalue()
