# Featurescope: `make run` installs everything into .venv and starts the app on the demo;
# `make test` runs the whole test suite (GUI headless, engine once more without PySide6).
SHELL := /bin/bash
PYTHON ?= $(shell for c in "$$(command -v python3.12)" "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.1[2-9]*/bin/python3 "$$(command -v python3)"; do [ -x "$$c" ] && "$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo "$$c"; break; }; done)
VENV := .venv
HEADLESS := .venv-engine
BIN := $(VENV)/bin

.PHONY: install run test lint test-all test-engine-headless clean

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 is required (python3.12 not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/featurescope $(ARGS)

lint: install
	$(BIN)/ruff check engine app tests benchmarks packaging
	$(BIN)/lint-imports
	$(BIN)/mypy

test-all: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

$(HEADLESS)/.installed: pyproject.toml
	$(PYTHON) -m venv $(HEADLESS)
	$(HEADLESS)/bin/python -m pip install -q --upgrade pip
	$(HEADLESS)/bin/python -m pip install -q -e '.[dev]'
	$(HEADLESS)/bin/python -m pip uninstall -q -y PySide6-Essentials shiboken6 pyqtgraph pytest-qt
	touch $@

test-engine-headless: $(HEADLESS)/.installed
	$(HEADLESS)/bin/python -c "import importlib.util as u; assert u.find_spec('PySide6') is None and u.find_spec('pyqtgraph') is None, 'PySide6 must be absent'"
	# pytest-qt is absent here, so its qt_log_* settings in pyproject are unknown options:
	# that one config warning is ignored; every other warning stays an error.
	$(HEADLESS)/bin/python -m pytest -q -W "ignore:Unknown config option:pytest.PytestConfigWarning" tests/engine

test: lint test-all test-engine-headless

clean:
	rm -rf $(VENV) $(HEADLESS) .pytest_cache

# --- Installers (packaging/README.md): one command per artifact, into dist/ ---
.PHONY: package package-cuda deb smoke
BUNDLE_CPU := dist/cpu/featurescope/featurescope

# CPU bundle (dist/cpu/featurescope), .tar.gz and makeself .run
package:
	packaging/build_bundle.sh cpu
	packaging/linux/build_archives.sh cpu all

# CUDA bundle (onnxruntime-gpu + NVIDIA CUDA 13/cuDNN 9 wheels, ~2.7 GB) and its .tar.gz
package-cuda:
	packaging/build_bundle.sh cuda
	packaging/linux/build_archives.sh cuda tar

# .deb of the CPU bundle (FLAVOUR=cuda for featurescope-cuda); test: sudo packaging/linux/test_deb_chroot.sh
FLAVOUR ?= cpu
deb:
	@[ -x dist/$(FLAVOUR)/featurescope/featurescope ] || packaging/build_bundle.sh $(FLAVOUR)
	packaging/linux/build_deb.sh $(FLAVOUR)

# The built CPU bundle in a clean environment (env -i, no Python on PATH), demo + a real model
smoke:
	@[ -x $(BUNDLE_CPU) ] || packaging/build_bundle.sh cpu
	@test -n "$(PYTHON)" || { echo "Python 3.12 is required to fetch the real model"; exit 1; }
	model=$$($(PYTHON) -c "from tests.real_models import fetch; print(fetch('ppocrv4_det_dbnet'))") && \
	page=$$($(PYTHON) -c "from tests.real_models import fetch; print(fetch('page'))") && \
	packaging/smoke_test.sh $(BUNDLE_CPU) --real-model "$$model" --real-input "$$page"
