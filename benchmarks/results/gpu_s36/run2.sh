#!/bin/bash
# GPU check 2 of session 36: the default training with the full step plan (no 20 s cut)
# and a profile of where the default training's time goes before its loop
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/benchmarks PYTHONUNBUFFERED=1 CRYOPICK_REAL_DATA=$PWD/.gpu/real
timeout 200 python3 benchmarks/bench_accuracy.py --data .gpu/real --sets empiar10146_apoferritin,empiar10017_bgal --conditions fresh --curve-sets none --cryopick $PWD/.gpu/cryopick --snapshot none --tag gpu36long --train-arg "--time-limit 120" --out $OUT/accuracy_gpu36long 2>&1 | tail -5
W=benchmarks/_work/accuracy/gpu36long/empiar10146_apoferritin/fresh
grep -h "trained\|picked" benchmarks/_work/accuracy/gpu36long/*/fresh/log.txt | cut -c1-250
M=$(ls .gpu/real/empiar10146_apoferritin/micrographs/*.png | sort | head -3)
OMP_NUM_THREADS=1 timeout 60 python3 -m cProfile -o /tmp/train.prof -m napari_cryopick.cli train --micrographs $M --picks $W/clicks --diameter 62 --out /tmp/m.pt 2>&1 | grep -v "^training\|^$" | cut -c1-250
python3 -c "
import pstats
s = pstats.Stats('/tmp/train.prof'); s.sort_stats('cumulative').print_stats(70)
" > $OUT/prof_apo.txt 2>&1
python3 -c "
import pstats
s = pstats.Stats('/tmp/train.prof'); s.sort_stats('tottime').print_stats(30)
" > $OUT/prof_apo_tottime.txt 2>&1
ls -la $OUT
