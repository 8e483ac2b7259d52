"""The benchmark's summary of repeated runs (the runs themselves need minutes of real time
and are `python -m sentiment_svc.bench`, not a test)."""

import pytest

from sentiment_svc.bench import main, median_row


def _run(cpu: float, p95: float | None, errors: int = 0) -> dict:
    return {
        "calls": 12, "alert_p50_s": None if p95 is None else p95 / 2, "alert_p95_s": p95,
        "final_p50_s": 0.5, "final_p95_s": 1.0, "cpu_per_speech_s": cpu, "errors": errors,
    }


def test_median_row_takes_medians_and_ranges():
    row = median_row([_run(0.19, 1.3), _run(0.14, 0.9, errors=1), _run(0.17, 1.8)])
    assert row["calls"] == 12 and row["runs"] == 3
    assert row["cpu_per_speech_s"] == 0.17
    assert row["alert_p95_s"] == 1.3
    assert row["alert_p50_s"] == 0.65
    assert row["cpu_per_speech_s_range"] == [0.14, 0.19]
    assert row["alert_p95_s_range"] == [0.9, 1.8]
    assert row["errors"] == 1  # an error in any run counts against the level


def test_median_row_ignores_runs_without_alerts():
    row = median_row([_run(0.2, None), _run(0.16, 1.1)])
    assert row["alert_p95_s"] == 1.1
    assert row["alert_p95_s_range"] == [1.1, 1.1]
    assert row["cpu_per_speech_s"] == 0.18


def test_repeat_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        main(["--repeat", "0"])
    assert "--repeat must be at least 1" in capsys.readouterr().err
