#!/bin/bash
# Leave-one-dataset-out models of one method for the generalization protocol's lodo family:
# for each dataset D of the three 02 sequences, train on the other two with the method's shipped
# recipe and write benchmarks/protocol_models/<method>-lodo-<D>.pt (+ manifest).
#   METHOD=boxtrack ARGS="--steps 600 --batch 12" bash scripts/train_lodo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
METHOD=${METHOD:?set METHOD (boxtrack, cap, distnet2d)}
ARGS=${ARGS:-}
OUT=${OUT:-benchmarks/protocol_models}
D=../shared/data/ctc
ALL="Fluo-N2DH-GOWT1 Fluo-N2DH-SIM+ Fluo-C2DL-MSC"
for held in $ALL; do
  data=""
  for ds in $ALL; do [ "$ds" != "$held" ] && data="$data $D/$ds"; done
  .venv/bin/celltrace train "$METHOD" --data $data $ARGS --out "$OUT/$METHOD-lodo-$held.pt"
done
