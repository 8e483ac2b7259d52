"""Per-call escalation state and the alerts it raises.

`CallState.observe` takes each analysed utterance in call order. Customer utterances move the
escalation score (see `data/policy.yaml`); the rules then decide whether to suggest an action.
Pure: no clocks, no I/O; time is the utterance's own end time.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from sentiment_svc.alerts.policy import Policy, Rule
from sentiment_svc.domain.vocabulary import (
    ADDRESSES,
    COMPLAINT_CATEGORIES,
    SEVERITY_RANK,
    Action,
    Level,
    SentimentLabel,
)
from sentiment_svc.frames import Alert, AlertAddressed, Channel, UtteranceAnalysis

EVIDENCE_WINDOW = 5  # recent customer utterances that may be quoted as evidence
EVIDENCE_MAX = 3
PRIOR_BAD_CALL_SCORE = 0.5  # starting score per earlier call of this customer that went badly
EVIDENCE_MIN_GAIN = 0.25  # an utterance must have moved the score this much to be quoted


@dataclass
class CallState:
    policy: Policy
    score: float = 0.0
    level: Level = Level.CALM
    categories_heard: Counter[str] = field(default_factory=Counter)
    _recent: deque[tuple[UtteranceAnalysis, float]] = field(
        default_factory=lambda: deque(maxlen=EVIDENCE_WINDOW)
    )
    _last_fired: dict[str, tuple[float, int]] = field(default_factory=dict)
    _open_alerts: list[Alert] = field(default_factory=list)  # suggested, not yet done
    # A customer utterance of this call so far complained or read negative: thanks after it
    # are more often sarcasm or resignation than satisfaction ("ну спасибо, три дня без связи").
    _upset_before: bool = False

    @property
    def open_alerts(self) -> tuple[Alert, ...]:
        """Alerts suggested and not yet done."""
        return tuple(self._open_alerts)

    def seed(self, categories: dict[str, int], negative_calls: int) -> None:
        """Start from what this customer's earlier calls left: a complaint raised in an
        earlier call counts as heard before, and each call that went badly adds to the
        starting score (at most up to the `tense` level)."""
        self.categories_heard.update(categories)
        tense = self.policy.escalation.band(Level.TENSE).enter
        self.score = min(tense, PRIOR_BAD_CALL_SCORE * negative_calls)
        self.level = self._next_level()

    def restore(
        self, utterances: list[UtteranceAnalysis], fired: list[Alert], unanswered: list[Alert]
    ) -> None:
        """A call resumed after its connection (or instance) was lost: its stored utterances
        are observed again in order (their alerts were raised then, not again), then the
        alerts it raised set the cooldowns and those not yet answered stay open."""
        for utterance in utterances:
            self.observe(utterance)
        self._last_fired = {
            alert.action: (alert.t, SEVERITY_RANK[alert.severity]) for alert in fired
        }
        self._open_alerts = list(unanswered)

    def settle(self, alert: Alert) -> None:
        """The operator answered `alert` on the console: speech no longer answers it."""
        self._open_alerts = [a for a in self._open_alerts if a is not alert]

    def observe(self, utterance: UtteranceAnalysis) -> list[Alert | AlertAddressed]:
        if not utterance.text:
            return []
        if utterance.channel is Channel.OPERATOR:
            return self._addressed(utterance)
        gain = self._gain(utterance)
        self.score = max(0.0, self.score * self.policy.escalation.decay + gain)
        previous = self.level
        self.level = self._next_level()
        self.categories_heard.update(set(utterance.categories))
        self._recent.append((utterance, gain))
        # One alert per utterance at most: the first rule that matches (the policy lists
        # the most urgent first). Two cards for one sentence would be noise.
        # A matching rule its cooldown holds back keeps the less urgent rules after it
        # quiet too: the operator's card for this complaint is still showing.
        fired: list[Alert | AlertAddressed] = []
        held_back = -1  # the severity rank of a matching rule held back by its cooldown
        for rule in self.policy.rules:
            if (SEVERITY_RANK[rule.severity] <= held_back
                    or not self._matches(rule, utterance, previous)):
                continue
            if self._cooled_down(rule, utterance.end):
                fired = [self._fire(rule, utterance)]
                break
            held_back = max(held_back, SEVERITY_RANK[rule.severity])
        self._upset_before = self._upset_before or upset(utterance)
        return fired

    def _addressed(self, utterance: UtteranceAnalysis) -> list[Alert | AlertAddressed]:
        """The operator apologised, offered compensation or transferred: the open alerts
        that suggested it are done (time-to-address is a QA metric)."""
        done = {ADDRESSES[c] for c in utterance.categories if c in ADDRESSES}
        addressed: list[Alert | AlertAddressed] = [
            AlertAddressed(alert, utterance.end, utterance.text)
            for alert in self._open_alerts
            if alert.action in done and alert.t <= utterance.end
        ]
        self._open_alerts = [a for a in self._open_alerts if a.action not in done]
        return addressed

    def _gain(self, utterance: UtteranceAnalysis) -> float:
        escalation = self.policy.escalation
        negative = max(0.0, utterance.sentiment.neg - escalation.negative_floor)
        gain = escalation.negative_weight * negative / (1.0 - escalation.negative_floor)
        for category in set(utterance.categories):
            weight = escalation.category_weights.get(category, 0.0)  # type: ignore[call-overload]
            if weight > 0 and self.categories_heard[category]:
                weight *= escalation.repeat_multiplier
            gain += weight
        if utterance.raised_voice:
            gain += escalation.raised_voice_weight
        return gain

    def _next_level(self) -> Level:
        escalation = self.policy.escalation
        level = self.level
        while level < Level.CRITICAL and self.score >= escalation.band(Level(level + 1)).enter:
            level = Level(level + 1)
        while level > Level.CALM and self.score < escalation.band(level).leave:
            level = Level(level - 1)
        return level

    def _matches(self, rule: Rule, utterance: UtteranceAnalysis, previous: Level) -> bool:
        when = rule.when
        categories = set(utterance.categories)
        if when.categories_any and not categories & set(when.categories_any):
            return False
        if not categories.issuperset(when.categories_all):
            return False
        if when.complaint is not None and complains(utterance) != when.complaint:
            return False
        if when.upset is not None and upset(utterance) != when.upset:
            return False
        if when.min_loudness_db is not None and utterance.loudness_db < when.min_loudness_db:
            return False
        if when.pleased_in_context is not None and self._upset_before == when.pleased_in_context:
            return False
        if when.category_repeated and not any(
            category in categories and self.categories_heard[category] >= 2
            for category in when.category_repeated
        ):
            return False
        if when.level_reached is not None:
            target = Level[when.level_reached.upper()]
            if not (self.level >= target > previous):
                return False
        if when.level_below is not None and self.level >= Level[when.level_below.upper()]:
            return False
        if when.sentiment_not is not None and utterance.sentiment.label == when.sentiment_not:
            return False
        if when.sentiment is not None:
            sentiment = utterance.sentiment
            if sentiment.label != when.sentiment:
                return False
            if getattr(sentiment, when.sentiment) < when.min_confidence:
                return False
        return True

    def _cooled_down(self, rule: Rule, now: float) -> bool:
        last = self._last_fired.get(rule.action)
        if last is None:
            return True
        fired_at, rank = last
        return now - fired_at >= self.policy.cooldown_s or SEVERITY_RANK[rule.severity] > rank

    def _fire(self, rule: Rule, utterance: UtteranceAnalysis) -> Alert:
        self._last_fired[rule.action] = (utterance.end, SEVERITY_RANK[rule.severity])
        quoted = [
            past for past, gain in self._recent
            if gain >= EVIDENCE_MIN_GAIN or past is utterance
        ][-EVIDENCE_MAX:]
        alert = Alert(
            t=utterance.end,
            action=rule.action,
            severity=rule.severity,
            reason=rule.reason,
            evidence=tuple(past.text for past in quoted),
            categories=tuple(dict.fromkeys(c for past in quoted for c in past.categories)),
        )
        if rule.action is not Action.THANK:
            self._open_alerts.append(alert)
        return alert


def complains(utterance: UtteranceAnalysis) -> bool:
    """The label guide's `complaint`: the analysis read one, or a complaint category says so."""
    if utterance.complaint is not None:
        return utterance.complaint
    return any(category in COMPLAINT_CATEGORIES for category in utterance.categories)


def upset(utterance: UtteranceAnalysis) -> bool:
    """A complaint, or the utterance reads negative."""
    return complains(utterance) or utterance.sentiment.label is SentimentLabel.NEG
