#!/usr/bin/env bash
# The training benchmark on a GPU machine: one process on one GPU, then Ray Train with nccl over
# every GPU, both with fbgemm-gpu's fused CUDA kernels. Prints samples/s and test AUC per run.
#
# Needs a venv with the CUDA stack (docs/distributed.md, "A GPU cluster"):
#   python3 -m venv .venv-gpu && . .venv-gpu/bin/activate
#   pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128
#   pip install fbgemm-gpu==1.8.0 --index-url https://download.pytorch.org/whl/cu128
#   pip install --no-deps torchrec==1.8.0 && grep -v fbgemm-gpu-cpu requirements.txt | pip install -r /dev/stdin
#   pip install --no-deps -e .
# Usage: benchmarks/gpu.sh [ROWS] [OUT_DIR]        (defaults 1000000, /tmp/recsys-gpu)
set -euo pipefail
ROWS=${1:-1000000}
OUT=${2:-/tmp/recsys-gpu}
PY=${PY:-python}
GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -lt 1 ]; then echo "no CUDA device visible" >&2; exit 2; fi
$PY -c "import fbgemm_gpu, torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
mkdir -p "$OUT"
[ -f "$OUT/criteo.tsv" ] || $PY -m pipelines.cli synth --format criteo --rows "$ROWS" --seed 7 --out "$OUT/criteo.tsv"
[ -f "$OUT/data/dataset.json" ] || $PY -m pipelines.cli prepare "$OUT/criteo.tsv" --format criteo --out "$OUT/data"
for model in deepfm dcnv2; do
  $PY -m pipelines.cli train "$OUT/data" --model "$model" --out "$OUT/run-$model-1gpu" --epochs 1 --overwrite --no-progress
done
if [ "$GPUS" -gt 1 ]; then
  $PY -m pipelines.cli train "$OUT/data" --model deepfm --out "$OUT/run-deepfm-${GPUS}gpu" --epochs 1 --overwrite \
      --workers "$GPUS" --set sharding_types=[row_wise]
fi
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
for m in sorted(Path(sys.argv[1]).glob("run-*/metrics.json")):
    d = json.loads(m.read_text())
    print(f"{m.parent.name}: {d['train_samples_per_s']:,.0f} samples/s, test AUC {d['test']['auc']:.4f}, "
          f"precision {d['precision']}, world {d['world_size']}")
PY
