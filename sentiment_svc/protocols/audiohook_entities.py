"""The AudioHook ``event`` entities we send: ``transcript`` and ``agentassist``.

Their shapes are the ones Genesys' reference implementation declares
(purecloudlabs/audiohook-reference-implementation, app/audiohook/src/protocol/
entities-transcript.ts and entities-agentassist.ts); the models below are frozen, refuse
unknown fields, and are dumped without the optional fields they leave out.

What our messages become:

- A final utterance (`UtteranceMessage`) is a ``transcript`` entity: ``channelId`` is the
  index of the speaker's channel in the media the server chose (``external`` = the customer,
  ``internal`` = the operator; 0 and 1 for the usual stereo offer), ``isFinal`` true,
  ``offset`` and ``duration`` its place in the stream (ISO 8601 "PT4.83S", the same clock as
  the client's ``position``), one alternative with ``languages`` ["ru-RU"] or ["uk-UA"] and a
  ``display`` interpretation carrying the text (personal data already masked).
- An alert (`AlertMessage`) is an ``agentassist`` entity with one ``article`` suggestion:
  ``title`` = the reason, ``excerpts`` = the evidence (the customer's words that caused it),
  ``position`` = when it fired, ``metadata`` = {action, severity, categories, alertId} (all
  strings, as the type wants), ``documentUri`` = ``urn:sentiment-svc:action:<action>`` (the
  playbook of the suggested action; the service has no public address to link to).
- ``confidence`` is required by both types; the recogniser gives no confidence for an
  utterance and the policy's alerts follow rules, so both are `NOT_ESTIMATED` (1.0).
- Entity ids are UUIDs derived from the session id and the utterance or alert, so the same
  utterance always gets the same id.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sentiment_svc.domain.messages import AlertMessage, UtteranceMessage

NOT_ESTIMATED = 1.0
LANGUAGE_TAGS = {"ru": "ru-RU", "uk": "uk-UA"}  # BCP 47, as Genesys names languages
ACTION_URN = "urn:sentiment-svc:action:"


class _Entity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TranscriptInterpretation(_Entity):
    type: Literal["display"] = "display"
    transcript: str


class TranscriptAlternative(_Entity):
    confidence: float = Field(ge=0, le=1)
    languages: list[str] | None = None
    interpretations: list[TranscriptInterpretation]


class TranscriptData(_Entity):
    id: str
    channelId: Literal[0, 1]
    isFinal: bool
    offset: str | None = None
    duration: str | None = None
    alternatives: list[TranscriptAlternative]


class TranscriptEntity(_Entity):
    type: Literal["transcript"] = "transcript"
    data: TranscriptData


class ArticleSuggestion(_Entity):
    type: Literal["article"] = "article"
    id: str
    confidence: float = Field(ge=0, le=1)
    position: str | None = None
    title: str
    excerpts: list[str]
    documentUri: str
    metadata: dict[str, str] | None = None


class AgentAssistData(_Entity):
    id: str
    suggestions: list[ArticleSuggestion]


class AgentAssistEntity(_Entity):
    type: Literal["agentassist"] = "agentassist"
    data: AgentAssistData


def duration(seconds: float) -> str:
    """An ISO 8601 duration in seconds, as AudioHook writes positions ("PT12.34S")."""
    return f"PT{max(0.0, seconds):.2f}S"


def transcript_entity(utterance: UtteranceMessage, session_id: str, channel_id: Literal[0, 1]
                      ) -> TranscriptEntity:
    language = LANGUAGE_TAGS.get(utterance.lang, utterance.lang)
    name = f"utterance:{utterance.seq}:{utterance.channel}:{utterance.start:.2f}"
    return TranscriptEntity(data=TranscriptData(
        id=_id(session_id, name),
        channelId=channel_id,
        isFinal=True,
        offset=duration(utterance.start),
        duration=duration(utterance.end - utterance.start),
        alternatives=[TranscriptAlternative(
            confidence=NOT_ESTIMATED,
            languages=[language] if language else None,
            interpretations=[TranscriptInterpretation(transcript=utterance.text)],
        )],
    ))


def agentassist_entity(alert: AlertMessage, session_id: str) -> AgentAssistEntity:
    name = f"alert:{alert.alert_id or ''}:{alert.t:.2f}:{alert.action}"
    metadata = {"action": str(alert.action), "severity": str(alert.severity),
                "categories": ",".join(alert.categories)}
    if alert.alert_id is not None:
        metadata["alertId"] = alert.alert_id
    return AgentAssistEntity(data=AgentAssistData(
        id=_id(session_id, name),
        suggestions=[ArticleSuggestion(
            id=_id(session_id, "suggestion:" + name),
            confidence=NOT_ESTIMATED,
            position=duration(alert.t),
            title=alert.reason,
            excerpts=list(alert.evidence),
            documentUri=ACTION_URN + str(alert.action),
            metadata=metadata,
        )],
    ))


def _id(session_id: str, name: str) -> str:
    try:
        namespace = uuid.UUID(session_id)
    except ValueError:
        namespace = uuid.NAMESPACE_URL
    return str(uuid.uuid5(namespace, name))
