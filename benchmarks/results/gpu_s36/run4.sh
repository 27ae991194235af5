#!/bin/bash
# GPU check 4 of session 36: where the default training's time goes on a GPU (byte-code cached)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/benchmarks PYTHONUNBUFFERED=1 PYTHONPYCACHEPREFIX=/tmp/pyc
python3 -c "import napari_cryopick.cli, napari_cryopick.core.training, napari_cryopick.workflows.train, napari_cryopick.workflows.pick, torch._dynamo, scipy.stats, skimage.feature, skimage.filters"
D=.gpu/real/empiar10146_apoferritin; M=$(ls $D/micrographs/*.png | sort | head -3)
mkdir -p /tmp/clicks; for f in $M; do s=$(basename $f .png); (head -1 $D/picks/$s.csv; tail -n +2 $D/picks/$s.csv | awk 'NR%4==1') > /tmp/clicks/$s.csv; done
OMP_NUM_THREADS=1 python3 -m cProfile -o /tmp/t.prof -m napari_cryopick.cli train --micrographs $M --picks /tmp/clicks --diameter 62 --out /tmp/m.pt 2>&1 | tr '\r' '\n' | grep -v "^$" | cut -c1-160 | tail -6
python3 -c "
import pstats
s = pstats.Stats('/tmp/t.prof'); s.sort_stats('cumulative').print_stats('napari_cryopick', 60)
s.sort_stats('tottime').print_stats(40)
" > $OUT/prof4.txt 2>&1
