#!/usr/bin/env bash
# Device checks for the engine: the CUDA tests, then the benchmark on the GPU.
# Usage: bash benchmarks/gpu_check.sh [steps]   (run from the repository root)
set -euo pipefail
steps="${1:-3000}"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch')"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
python -m pytest -m cuda tests/engine -q -p no:cacheprovider
python benchmarks/engine.py --device cuda --threads 0 --steps "$steps" \
    --cases reference-plain,reference-eager,reference-delays,reference-eprop,npr500,batch10
