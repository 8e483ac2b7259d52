"""Whether a matched complaint phrase is denied by a negation in its clause (the lexicon's rule).

Before the match: "не" up to NEGATION_WINDOW words back, or "ни", "нет", "ні", "немає", "без"
right before a matched word ("я не буду расторгать договор"); punctuation and another verb
stop the search ("если не решите, расторгну договор" still counts); a denied claim cancels too
("не могу сказать, что мне не помогли").

After the match (the label guide: "wherever the negation stands, before or after the verb"):
a match that carries an infinitive is denied by a negated auxiliary or modal that follows it
in the same clause ("переходити до іншого оператора я не збираюся", "уходить я не собираюсь",
"звать начальство не нужно"). Punctuation or a conjunction ends the clause ("хочу расторгнуть
договор и не хочу больше слышать" still counts), except a bare "[я] не <auxiliary>" ending the
sentence after a comma the recogniser put in; only an auxiliary or a modal word after "не"
governs the infinitive ("уйду к конкурентам если вы не решите" still counts).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

NEGATION_WINDOW = 3  # words looked back from a matched word for a negator
AFTER_WINDOW = 4  # words looked ahead of a match for a negated auxiliary


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


NEAR_NEGATORS = _set("не")  # deny a word up to NEGATION_WINDOW words ahead
ADJACENT_NEGATORS = _set("ни ні нет немає без")  # deny only the next word
PATTERN_NEGATORS = _set("не ни ні")  # inside a pattern: bound to the word after them
_COMPLEMENTISERS = _set("что чтобы що щоб шо")
_CLAIM_VERBS = _set("сказать говорить думать считать утверждать сказати казати говорити думати")
_CLAIM_NEGATORS = _set("не нельзя")
AUXILIARIES = _set(
    "быть хотеть мочь смочь собираться стать планировать думать "
    "бути хотіти могти змогти збиратися стати планувати думати"
)
# After the match, "не" + one of these governs the infinitive before it.
_GOVERNING = AUXILIARIES | _set(
    "нужно нужный надо необходимо треба потрібно потрібний обов'язково варто стоить"
)
_PRONOUNS = _set("я мы ми")
_CLAUSE_CONJUNCTIONS = _set("и а но или если когда потому і й та але або якщо коли бо")


class Word(Protocol):
    """What the negation rules read of a token (`lexicon._Token`)."""

    lemmas: frozenset[str]
    verb: bool  # a verb, not an imperative
    infinitive: bool
    brk: bool  # punctuation between this word and the previous one


def negator_before(tokens: Sequence[Word], at: int, inside: Collection[int]) -> bool:
    """Is the word at `at` denied by a negator before it that is not part of the match?"""
    steps = 0
    while at > 0 and not tokens[at].brk and steps < NEGATION_WINDOW:
        at -= 1
        if at in inside:
            continue
        steps += 1
        lemmas = tokens[at].lemmas
        if lemmas & _COMPLEMENTISERS:  # a denied claim: "не скажу, что ...", "нельзя сказать, что"
            verbs = [v for v in range(at - 1, at - 4, -1) if v >= 0]
            claim = next((v for v in verbs if tokens[v].lemmas & _CLAIM_VERBS), None)
            return claim is not None and any(
                tokens[n].lemmas & _CLAIM_NEGATORS for n in range(max(0, claim - 2), claim)
            )
        if lemmas & NEAR_NEGATORS or (steps == 1 and lemmas & ADJACENT_NEGATORS):
            return True
        if tokens[at].verb and (steps > 1 or lemmas.isdisjoint(AUXILIARIES)):
            return False  # a negator further back belongs to that verb ("не хочу" passes)
    return False


def negated_after(tokens: Sequence[Word], placement: Collection[int]) -> bool:
    """Does a negated auxiliary or modal after the match, in its clause, deny its infinitive?"""
    if not any(tokens[at].infinitive for at in placement):
        return False
    end = max(placement) + 1
    for at in range(end, min(len(tokens) - 1, end + AFTER_WINDOW)):
        token = tokens[at]
        if token.brk:
            return _bare_denial(tokens, at)
        if token.lemmas & _CLAUSE_CONJUNCTIONS:
            return False
        following = tokens[at + 1]
        if token.lemmas & PATTERN_NEGATORS and not following.brk:
            return bool(following.lemmas & _GOVERNING)
        if token.verb:
            return False  # another verb: the clause has moved on
    return False


def _bare_denial(tokens: Sequence[Word], start: int) -> bool:
    """After a comma the recogniser put in ("уходить к другому оператору, я не собираюсь"):
    only a bare "[я|мы] не <auxiliary>" that ends the sentence still denies the infinitive
    ("уйти к другому оператору, я не собираюсь больше ждать" does not)."""
    words = list(tokens[start:start + 4])
    if words and words[0].lemmas & _PRONOUNS:
        words = words[1:]
    if len(words) < 2 or not words[0].lemmas & PATTERN_NEGATORS or words[1].brk:
        return False
    after = start + (len(tokens[start:start + 4]) - len(words)) + 2
    return bool(words[1].lemmas & _GOVERNING) and (after >= len(tokens) or tokens[after].brk)
