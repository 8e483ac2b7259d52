# Two commands for a newcomer: `make run` and `make test`. `make install` is the idempotent
# step both use: a virtual environment, the package, and the models assembled under models/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := audio_samples/real/tinkoff_voicekit_examples/negative_sample_8k.wav

.PHONY: install run demo analyze-sample test test-slow test-fast lint clean-models

MODEL_FILES := models/whisper-base/model.bin models/whisper-base-ru-uk/model.bin models/e5-small/model.safetensors models/e5-small/model.onnx models/e5-small-tuned/model.onnx

install: $(VENV)/.installed $(MODEL_FILES)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[uk,dev]'
	touch $@

$(MODEL_FILES) &: $(VENV)/.installed tools/provision/assemble.py tools/provision/convert_e5.py tools/provision/e5_onnx.py tools/provision/tuned_onnx.py tools/provision/requirements.txt sentiment_svc/analysis/data/text_model.npz sentiment_svc/analysis/text_model.py sentiment_svc/asr/vocabulary.py
	$(BIN)/python -m tools.provision
	touch $(MODEL_FILES)

run: install
	$(BIN)/sentiment-svc serve

demo: install
	$(BIN)/sentiment-svc demo

analyze-sample: install
	$(BIN)/sentiment-svc analyze $(SAMPLE)

# The suite CI runs (under 30 minutes on 2 cores), then what is marked slow: the fuzzers,
# the 30 scripted calls v2 and the three-instance cluster behind nginx (about 10 minutes).
test: install
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: install
	$(BIN)/python -m pytest -q -m slow

# The tests that need no models and no browser and are not slow (tests/conftest.py marks
# the others): no model assembly, under a minute.
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "not models and not browser and not slow"

lint: install
	$(BIN)/ruff check .

clean-models:
	rm -rf models/whisper-base models/whisper-base-ru-uk models/e5-small models/e5-small-tuned models/.wheels
