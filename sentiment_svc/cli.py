"""`sentiment-svc` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from sentiment_svc.audio.decode import AudioDecodeError, CustomerChannel

PROGRESS_AFTER_S = 30.0

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models load from local paths only


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sentiment-svc")
def main() -> None:
    """Real-time call sentiment monitoring for Russian and Ukrainian contact centres."""


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--lang", type=click.Choice(["ru", "uk", "auto"]), default="auto", show_default=True,
              help="Language of the call; auto lets Whisper pick ru or uk per utterance.")
@click.option("--customer-channel", type=click.Choice([c.value for c in CustomerChannel]),
              default="mono", show_default=True,
              help="mono: the whole recording is the customer; left/right: stereo call,"
                   " that side is the customer and the other the operator.")
@click.option("--model", "model", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="A local CTranslate2 Whisper directory (default: bundled base).")
def analyze(file: Path, lang: str, customer_channel: str, model: Path | None) -> None:
    """Analyse a recorded call; print JSON lines (utterances, alerts, a summary)."""
    from tqdm import tqdm

    from sentiment_svc.asr.whisper import ModelNotFoundError
    from sentiment_svc.audio.decode import decode_file
    from sentiment_svc.config import Settings
    from sentiment_svc.events import event_to_dict
    from sentiment_svc.pipeline import Engines, analyze_file, languages_for

    try:
        duration = decode_file(file).duration  # fail fast on bad input, before loading models
        settings = Settings() if model is None else Settings(whisper_model=model)
        engines = Engines.load(settings)
    except (AudioDecodeError, ModelNotFoundError, FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None

    bar = None
    if duration > PROGRESS_AFTER_S:
        bar = tqdm(total=round(duration, 1), unit="s", file=sys.stderr, desc=file.name)

    def progress(seconds: float) -> None:
        if bar is not None:
            bar.update(round(seconds - bar.n, 1))

    try:
        for event in analyze_file(
            file, engines, languages_for(lang), CustomerChannel(customer_channel), progress
        ):
            click.echo(json.dumps(event_to_dict(event), ensure_ascii=False))
    except AudioDecodeError as error:
        raise click.ClickException(str(error)) from None
    finally:
        if bar is not None:
            bar.close()


if __name__ == "__main__":
    main()
