#!/usr/bin/env bash
# One call on a lent GPU machine: train the newer learned methods (distnet2d, cap, boxtrack) side by
# side on one GPU, each as the protocol's "spatial" model (left 60 % of every 02 field; scored on
# the right 40 %) and as the "full" model (all of 02; the one to ship once the protocol prefers it),
# and return them as $OUT/models.tar (weights + manifests + logs + checkpoints of unfinished runs).
#
#   here:  python scripts/device_data.py pack ../shared/data/ctc .devdata
#   there: METHODS="distnet2d cap boxtrack" STEPS=4000 LIMIT=480 bash scripts/device_train_methods.sh
#          (device tool: carry .devdata)
#
# A run still going after $LIMIT seconds is stopped; its checkpoint (NAME.pt.ckpt/) comes back in
# the tar, and the same `celltrace train` command resumes it from there (here or in a later call).
# Smoke test on a CPU: DEVICE=cpu STEPS=2 LIMIT=300 DATA=../shared/data/ctc bash scripts/device_train_methods.sh
set -u
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
METHODS=${METHODS:-"distnet2d cap boxtrack"}; VARIANTS=${VARIANTS:-"spatial full"}
STEPS=${STEPS:-4000}; LIMIT=${LIMIT:-480}; DEVICE=${DEVICE:-cuda}; DATA=${DATA:-/tmp/ctc}
OUT=${OUT:-/tmp/out}; W=${MODELS:-/tmp/models}; PY=${PY:-python3}
mkdir -p "$W" "$OUT"
[ -d "$DATA" ] || $PY scripts/device_data.py unpack .devdata "$DATA"
S="$DATA/Fluo-N2DH-SIM+"; G="$DATA/Fluo-N2DH-GOWT1"; M="$DATA/Fluo-C2DL-MSC"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$W/device.txt"
run() {  # run METHOD VARIANT
  local method=$1 variant=$2 region=()
  [ "$variant" = spatial ] && region=(--param region=0:0.6)
  local name="$method-$variant" t0=$(date +%s)
  timeout "$LIMIT" $PY -m celltrace.cli train "$method" --data "$S" "$G" "$M" --out "$W/$name.pt" \
    --steps "$STEPS" --device "$DEVICE" --seed 0 -q "${region[@]}" > "$W/$name.log" 2>&1
  echo "$name rc=$? seconds=$(( $(date +%s) - t0 ))" | tee -a "$W/status.txt"
}
for method in $METHODS; do
  for variant in $VARIANTS; do run "$method" "$variant" & done
done
wait
tar -C "$W" -cf "$OUT/models.tar" .
ls -la "$W"; cat "$W/status.txt"
