# The README's two commands: `make demo` and `make test`. Both create or reuse .venv/.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.recsys-installed
DEMO_DIR ?= demo
DEMO_ROWS ?= 1000000
STUDY_DIR ?= study

.PHONY: venv demo test test-all typecheck bench clean docker docker-test study

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

# The smoke study (configs/experiments/synth_smoke.yaml): 14 runs + an 8-trial ASHA search on
# 200k synthetic rows, 2 trials at a time; leaderboard and report.html in $(STUDY_DIR)/ (~15 min).
study: venv
	$(BIN)/recsys experiment configs/experiments/synth_smoke.yaml --out $(STUDY_DIR) --concurrent 2

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
	rm -rf $(DEMO_DIR) $(STUDY_DIR) .pytest_cache .mypy_cache
