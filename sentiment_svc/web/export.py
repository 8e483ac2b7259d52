"""Exporting a stored call (the dict `CallStore.get_call` returns) as CSV for spreadsheets.

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

COLUMNS = (
    "call_id", "seq", "channel", "start", "end", "lang", "text", "neg", "neu", "pos",
    "categories", "loudness_db", "alert_ids", "alert_actions", "alert_severities",
    "alert_reasons", "ack_outcomes",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def assign_alerts(
    utterances: list[dict[str, Any]], alerts: list[dict[str, Any]]
) -> dict[int | None, list[dict[str, Any]]]:
    """Alerts grouped by the ``seq`` of the utterance they belong to (None: no utterance)."""
    groups: dict[int | None, list[dict[str, Any]]] = {}
    for alert in alerts:
        t = round(alert["t"], 2)
        exact = [u for u in utterances if round(u["end"], 2) == t]
        exact.sort(key=lambda u: u["channel"] != "customer")
        before = [u for u in utterances if u["end"] <= t]
        home = (exact or before[-1:] or utterances[:1] or [None])[0]
        groups.setdefault(None if home is None else home["seq"], []).append(alert)
    return groups


def call_to_csv(call: dict[str, Any]) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    groups = assign_alerts(call["utterances"], call["alerts"])
    rows: list[tuple[dict[str, Any] | None, list[dict[str, Any]]]] = [
        (u, groups.get(u["seq"], [])) for u in call["utterances"]
    ]
    rows.extend((None, [alert]) for alert in groups.get(None, []))
    for utterance, alerts in rows:
        u = utterance or {}
        sentiment = u.get("sentiment", {})
        writer.writerow(_cell(value) for value in (
            call["call_id"], u.get("seq", ""), u.get("channel", ""), u.get("start", ""),
            u.get("end", ""), u.get("lang", ""), u.get("text", ""),
            sentiment.get("neg", ""), sentiment.get("neu", ""), sentiment.get("pos", ""),
            ";".join(u.get("categories", [])), u.get("loudness_db", ""),
            " | ".join(a["alert_id"] for a in alerts),
            " | ".join(a["action"] for a in alerts),
            " | ".join(a["severity"] for a in alerts),
            " | ".join(a["reason"] for a in alerts),
            " | ".join(ack["outcome"] for a in alerts for ack in a["acks"]),
        ))
    return out.getvalue()
