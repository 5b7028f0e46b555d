#!/usr/bin/env bash
# One call on a lent GPU machine: train the caliban segmentation models of the generalization
# protocol side by side on one GPU, and return them as $OUT/models.tar (weights + manifests + logs).
#
#   here:  python scripts/device_data.py pack ../shared/data/ctc .devdata
#   there: bash scripts/device_train.sh            (device tool: carry .devdata)
#
# Runs (sequence 02 of each dataset, all frames: split=none):
#   full           SIM+ GOWT1 MSC                   -> the shipped model
#   spatial        SIM+ GOWT1 MSC, x in [0, 0.6)     -> scored on x in [0.6, 1) (protocol)
#   spatial-noaug  same, photometric=0               -> ablation: what the shift augmentation buys
#   lodo-<D>       the two datasets other than D     -> scored on all of D (protocol)
# Each run stops after $LIMIT seconds at the latest; a run cut short is saved from its last
# checkpoint (scripts/checkpoint_weights.py), and its manifest says so.
set -u
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
STEPS=${STEPS:-4000}; BATCH=${BATCH:-16}; LIMIT=${LIMIT:-400}; DEVICE=${DEVICE:-cuda}; DATA=${DATA:-/tmp/ctc}
OUT=${OUT:-/tmp/out}; W=${MODELS:-/tmp/models}
PY=${PY:-python3}
mkdir -p "$W" "$OUT"
[ -d "$DATA" ] || $PY scripts/device_data.py unpack .devdata "$DATA"
S="$DATA/Fluo-N2DH-SIM+"; G="$DATA/Fluo-N2DH-GOWT1"; M="$DATA/Fluo-C2DL-MSC"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$W/device.txt"
run() {
  local name=$1; shift
  local t0=$(date +%s)
  timeout "$LIMIT" $PY -m celltrace.cli train caliban --out "$W/$name.pt" --steps "$STEPS" --batch "$BATCH" \
    --device "$DEVICE" --seed 0 -q --param split=none --param cache_mb=8000 "$@" > "$W/$name.log" 2>&1
  echo "$name rc=$? seconds=$(( $(date +%s) - t0 ))" | tee -a "$W/status.txt"
}
run full --data "$S" "$G" "$M" &
run spatial --data "$S" "$G" "$M" --param region=0:0.6 &
run spatial-noaug --data "$S" "$G" "$M" --param region=0:0.6 --param photometric=0 &
run lodo-GOWT1 --data "$S" "$M" &
run lodo-SIM --data "$G" "$M" &
run lodo-MSC --data "$S" "$G" &
wait
$PY scripts/checkpoint_weights.py "$W"
tar -C "$W" -cf "$OUT/models.tar" --exclude='*.ckpt' .
ls -la "$W"; cat "$W/status.txt"
