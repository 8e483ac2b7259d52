"""e5 passes combined across concurrent callers (live calls analysed in parallel threads)."""

import threading

import numpy as np
import pytest

from sentiment_svc.analysis.batching import CombiningEncoder

TEXTS = [
    "Я уже третий раз звоню, и мне никто не помог.",
    "Спасибо, всё понятно, до свидания.",
    "Покличте керівника, будь ласка, я вже втомився чекати.",
    "Мне помогли в прошлый раз, хочу ещё спросить про тариф.",
    "Ні, все добре, дякую.",
    "Когда вернут деньги за заказ?",
    "Это просто безобразие, сколько можно!",
    "Доставка знову запізнюється на тиждень.",
]


def test_concurrent_callers_share_passes_and_get_their_own_rows(engines):
    plain = engines.analyzer.encoder._encoder  # the E5Encoder underneath
    combining = CombiningEncoder(plain)
    alone = plain.embed(TEXTS)
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(len(TEXTS))

    def call(index: int) -> None:
        start.wait()
        results[index] = combining.embed([TEXTS[index]])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(TEXTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == list(range(len(TEXTS)))
    for index, rows in results.items():
        assert rows.shape == (1, plain.dim)
        # Padding inside a batch changes the float sums slightly, not the embedding.
        assert float(rows[0] @ alone[index]) > 0.9999
    assert combining.passes < len(TEXTS)


class _FailingOn:
    """An encoder that refuses one text, to check the error reaches every caller of that
    pass and the next pass still runs."""

    dim = 2

    def __init__(self, poison: str) -> None:
        self.poison = poison

    def embed(self, texts):
        if self.poison in texts:
            raise ValueError("encoder failed")
        return np.ones((len(texts), self.dim), dtype=np.float32)


def test_an_encoder_error_reaches_the_caller_and_the_encoder_keeps_working():
    combining = CombiningEncoder(_FailingOn("bad"))
    with pytest.raises(ValueError, match="encoder failed"):
        combining.embed(["bad"])
    assert combining.embed(["good", "also good"]).shape == (2, 2)
    assert combining.embed([]).shape == (0, 2)
