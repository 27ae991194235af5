#!/bin/bash
# GPU check 3 of session 36: batches made ahead (prefetch) on the GPU; the default
# training and picking again, with byte-code cached as an installed package has it
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/benchmarks PYTHONUNBUFFERED=1 CRYOPICK_REAL_DATA=$PWD/.gpu/real PYTHONPYCACHEPREFIX=/tmp/pyc
time python3 -c "import napari_cryopick.cli, napari_cryopick.core.training, napari_cryopick.workflows.train, napari_cryopick.workflows.pick, torch._dynamo, scipy.stats, skimage.feature, skimage.filters"
python3 benchmarks/bench_train_steps.py --device cuda --steps 300 --out $OUT/train_steps_gpu.jsonl
OMP_NUM_THREADS=1 python3 benchmarks/bench_train_steps.py --device cuda --steps 300 --out $OUT/train_steps_gpu_omp1.jsonl
timeout 200 python3 benchmarks/bench_accuracy.py --data .gpu/real --sets empiar10146_apoferritin,empiar10017_bgal --conditions fresh --curve-sets none --cryopick $PWD/.gpu/cryopick --snapshot none --tag gpu36c --out $OUT/accuracy_gpu36c 2>&1 | tail -3
grep -h "trained\|picked\|note: the time" benchmarks/_work/accuracy/gpu36c/*/fresh/log.txt | cut -c1-220
for s in empiar10146_apoferritin empiar10017_bgal; do cp benchmarks/_work/accuracy/gpu36c/$s/fresh/log.txt $OUT/log_$s.txt 2>/dev/null; done
