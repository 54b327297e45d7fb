# The README's two commands: `make demo` and `make test`. Both create or reuse .venv/.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.recsys-installed
DEMO_DIR ?= demo
DEMO_ROWS ?= 1000000

.PHONY: venv demo test test-all typecheck bench clean docker docker-test

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	# torchrec's metadata demands the CUDA fbgemm-gpu; fbgemm-gpu-cpu provides the same module.
	$(BIN)/pip install -q --no-deps torchrec==1.8.0
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: venv
	$(BIN)/python -m pipelines.demo --out $(DEMO_DIR) --rows $(DEMO_ROWS)

typecheck: venv
	$(BIN)/mypy

test: venv typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-all: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not gpu"

docker: venv
	$(BIN)/python docker/smoke_test.py --build-only

# Builds the image, serves and batch-scores a bundle from containers, compares with the host (minutes).
docker-test: venv
	$(BIN)/python docker/smoke_test.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache
