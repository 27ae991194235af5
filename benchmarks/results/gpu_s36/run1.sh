#!/bin/bash
# GPU check of session 36: CUDA tests, then the issue-10 benchmark's default training and
# picking (bench_accuracy.py, fresh condition) with the device left at its default (auto)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/benchmarks PYTHONUNBUFFERED=1 CRYOPICK_REAL_DATA=$PWD/.gpu/real
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())"
nproc
(timeout 200 python3 -m pytest -q -p no:cacheprovider -n 8 tests/core 2>&1 | tail -25) > $OUT/pytest_core.txt
tail -8 $OUT/pytest_core.txt
timeout 330 python3 benchmarks/bench_accuracy.py --data .gpu/real --sets empiar10146_apoferritin,empiar10017_bgal --conditions fresh --curve-sets none --cryopick $PWD/.gpu/cryopick --snapshot none --tag gpu36 --out $OUT/accuracy_gpu36 2>&1 | tail -30
for s in empiar10146_apoferritin empiar10017_bgal; do cp benchmarks/_work/accuracy/gpu36/$s/fresh/log.txt $OUT/log_$s.txt 2>/dev/null; done
ls -la $OUT
