"""`sentiment-svc` command line."""

from __future__ import annotations

import asyncio
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


def check_models(settings) -> None:
    """Fail before anything loads if a model directory is missing or incomplete, naming the
    setting that points at it: an installed service finds its models through settings only."""
    from sentiment_svc.analysis.text_encoder import REQUIRED_FILES as E5_FILES
    from sentiment_svc.asr.whisper import REQUIRED_FILES as WHISPER_FILES
    from sentiment_svc.asr.whisper import ModelNotFoundError

    for name, path, files, own_setting in (
        ("Whisper", settings.whisper_dir, WHISPER_FILES, settings.whisper_model),
        ("e5", settings.e5_dir, E5_FILES, settings.e5_model),
    ):
        missing = [file for file in files if not (path / file).is_file()]
        if not missing:
            continue
        what = "does not exist" if not path.is_dir() else f"lacks {', '.join(missing)}"
        if own_setting is None:
            where = ("set SENTIMENT_MODELS_DIR to the folder `make install` assembled (a"
                     " checkout's models/; default: ./models in the working directory)")
        elif name == "Whisper":
            where = "set by --model or SENTIMENT_WHISPER_MODEL"
        else:
            where = "set by SENTIMENT_E5_MODEL"
        raise ModelNotFoundError(f"{name} model directory {path.resolve()} {what}; {where}")


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
    from sentiment_svc.domain.codec import to_json
    from sentiment_svc.domain.vocabulary import Language
    from sentiment_svc.live.offline import analyze_file
    from sentiment_svc.pipeline import Engines
    from sentiment_svc.threads import single_threaded_numerics

    single_threaded_numerics()  # a call is analysed as the service would, one thread
    try:
        duration = decode_file(file).duration  # fail fast on bad input, before loading models
        settings = Settings() if model is None else Settings(whisper_model=model)
        check_models(settings)
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
        asyncio.run(analyze_file(
            file, engines, lambda message: click.echo(to_json(message)), Language(lang),
            CustomerChannel(customer_channel), progress, workers=settings.asr_layout()[0],
        ))
    except AudioDecodeError as error:
        raise click.ClickException(str(error)) from None
    finally:
        if bar is not None:
            bar.close()


# Packaged with its attribution (data/README.md), so the demo works from an installed wheel.
DEMO_CALL = Path(__file__).with_name("data") / "demo_call.wav"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@main.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where the database and recordings live (default ./data).")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None,
              help="YAML file with access tokens, platform credentials and CRM webhooks.")
def serve(host: str | None, port: int | None, data_dir: Path | None,
          config_file: Path | None) -> None:
    """Run the real-time service (websocket ingest, feeds, REST API)."""
    import logging

    import uvicorn

    from sentiment_svc.asr.whisper import ModelNotFoundError
    from sentiment_svc.config import Settings
    from sentiment_svc.crm.config import WebhooksConfig
    from sentiment_svc.storage.errors import StoreError
    from sentiment_svc.web.app import create_app, uvicorn_options
    from sentiment_svc.web.audiohook_auth import AudioHookCredentials, guarded
    from sentiment_svc.web.auth import TokenRegistry
    from sentiment_svc.web.platform_auth import PlatformCredentials, check_access

    overrides = {key: value for key, value in {
        "host": host, "port": port, "data_dir": data_dir, "config_file": config_file,
    }.items() if value is not None}
    settings = Settings(**overrides)
    try:
        if settings.database_url:
            _check_database(settings.database_url)
        tokens = TokenRegistry.load(settings.config_file)
        platforms = PlatformCredentials.load(settings.config_file)
        check_access(tokens, platforms)
        WebhooksConfig.load(settings.config_file)  # a bad CRM webhook target stops here
        check_models(settings)
        if settings.audiosocket_port is not None:
            from sentiment_svc.web.audiosocket import allow_list

            allow_list(settings.audiosocket_allow)  # a bad entry stops here, named
        audiohook = AudioHookCredentials.from_file(settings.config_file)
        tokens = guarded(tokens, audiohook)
    except (ModelNotFoundError, OSError, ValueError, StoreError) as error:
        raise click.ClickException(str(error)) from None
    if tokens.is_open:
        if settings.host not in LOOPBACK:
            raise click.ClickException(
                f"refusing to listen on {settings.host} without access tokens;"
                " configure tokens with --config, or bind 127.0.0.1"
            )
        click.echo("warning: no access tokens configured; serving open on loopback only",
                   err=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(create_app(settings, tokens, platforms, audiohook), host=settings.host,
                port=settings.port, log_level="info", **uvicorn_options(settings))


def _check_database(url: str) -> None:
    """Reach the database and bring its schema up to date before serving: a bad or
    unreachable URL stops `serve` with one line (`StoreUnavailableError`), not a traceback
    from inside the server's start-up."""
    from sentiment_svc.storage.factory import open_postgres

    open_postgres(url).close()


def _print_event(source: str, event: dict) -> None:
    click.echo(json.dumps({"source": source, **event}, ensure_ascii=False))


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--url", default="ws://127.0.0.1:8000", show_default=True)
@click.option("--token", default=None, help="Bearer token (ingest; operator/supervisor to"
              " also follow the feed).")
@click.option("--protocol", type=click.Choice(["native", "twilio", "audiohook", "audio_fork"]),
              default="native", show_default=True)
@click.option("--speed", type=click.FloatRange(0.1, 50), default=1.0, show_default=True)
@click.option("--customer-channel", type=click.Choice([c.value for c in CustomerChannel]),
              default="mono", show_default=True)
@click.option("--lang", type=click.Choice(["ru", "uk", "auto"]), default="auto")
@click.option("--operator-id", default="demo-operator", show_default=True)
@click.option("--call-id", default=None, help="Default: a new random id.")
def stream(file: Path, url: str, token: str | None, protocol: str, speed: float,
           customer_channel: str, lang: str, operator_id: str, call_id: str | None) -> None:
    """Play a recorded call to the service in real time; print the events that come back."""
    import asyncio

    from sentiment_svc.client import load_client_call, new_call_id, stream_call

    try:
        call = load_client_call(file, CustomerChannel(customer_channel),
                                call_id or new_call_id(), operator_id, lang)
        result = asyncio.run(stream_call(call, url, protocol, token, speed, _print_event))
    except AudioDecodeError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot reach the service at {url}: {error}") from None
    if result.close_code not in (None, 1000):
        raise click.ClickException(
            f"the service closed the stream: {result.close_code} {result.close_reason}"
        )


@main.command()
@click.argument("call_id")
@click.option("--url", default="ws://127.0.0.1:8000", show_default=True)
@click.option("--token", default=None, help="A qa, supervisor or operator token.")
@click.option("--speed", type=click.FloatRange(1, 8), default=1.0, show_default=True)
def replay(call_id: str, url: str, token: str | None, speed: float) -> None:
    """Replay a stored call through the live pipeline; print the events as they come."""
    import asyncio
    from urllib.parse import quote

    import websockets

    query = f"?speed={speed}" + (f"&token={quote(token)}" if token else "")
    target = f"{url.rstrip('/')}/v1/calls/{quote(call_id)}/replay{query}"

    async def run() -> tuple[int | None, str]:
        async with websockets.connect(target, max_size=2**22) as socket:
            try:
                async for message in socket:
                    click.echo(message)
            except websockets.ConnectionClosed:
                pass
            return socket.close_code, socket.close_reason or ""

    try:
        code, reason = asyncio.run(run())
    except OSError as error:
        raise click.ClickException(f"cannot reach the service at {url}: {error}") from None
    if code not in (None, 1000):
        raise click.ClickException(f"replay refused: {code} {reason}")


@main.command()
@click.option("--url", default="ws://127.0.0.1:8000", show_default=True)
@click.option("--token", default=None)
@click.pass_context
def demo(ctx: click.Context, url: str, token: str | None) -> None:
    """Stream a bundled angry customer call to a running service and show the alerts."""
    ctx.invoke(stream, file=DEMO_CALL, url=url, token=token, protocol="native", speed=1.0,
               customer_channel="mono", lang="auto", operator_id="demo-operator", call_id=None)


@main.command("restrict-vocab")
@click.argument("source", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("target", type=click.Path(path_type=Path, file_okay=False))
def restrict_vocab(source: Path, target: Path) -> None:
    """Copy a CTranslate2 Whisper model keeping only the tokens ru/uk transcripts use
    (faster decoding, same accuracy; see BENCHMARKS.md). Pass TARGET as --model."""
    from sentiment_svc.asr.model_file import ModelFileError
    from sentiment_svc.asr.vocabulary import restrict_model
    from sentiment_svc.asr.whisper import ModelNotFoundError, check_model_dir

    if target.exists():
        raise click.ClickException(f"{target} already exists")
    try:
        check_model_dir(source)
        kept = restrict_model(source, target)
    except (ModelNotFoundError, ModelFileError, KeyError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{target}: {kept} tokens kept")


def _register_eval_text() -> None:
    from sentiment_svc.analysis.evaluate import eval_text

    main.add_command(eval_text)


_register_eval_text()

if __name__ == "__main__":
    main()
