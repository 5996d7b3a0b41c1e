#!/usr/bin/env bash
# Device checks: every CUDA test (engine and learning rules), then the engine benchmark on the GPU.
# Usage: bash benchmarks/gpu_check.sh [steps]   (run from the repository root)
set -euo pipefail
steps="${1:-3000}"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch')"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
python -m pytest -m cuda tests -q -p no:cacheprovider
python benchmarks/engine.py --device cuda --threads 0 --steps "$steps" \
    --cases reference-plain,reference-eager,reference-delays,reference-eprop,reference-stdp3,npr500,batch10,flywire-scale
# The whole quick study on the GPU (brain.device: auto picks CUDA), with its wall time.
out=$(mktemp -d)
time python -m encephagen.cli run experiments/quick.yaml --out "$out/quick"
python -c "import json, sys; print('devices used:', json.load(open(sys.argv[1]))['devices_used'])" "$out/quick/provenance.json"
