#!/usr/bin/env bash
# btrack 0.7.0's bundled libtracker.so needs GLIBCXX_3.4.32 (GCC 13); this machine's libstdc++ is
# GCC 12's, so loading it fails. This rebuilds the same C++ sources (shipped in the btrack wheel)
# with the local compiler into $OUT (default ~/.cache/celltrace/btrack), outside the repository and the
# venv; benchmarks/celltrace_bench/peers.py loads it from there when the bundled library fails.
# Needs: g++, Eigen 3 headers (apt-get install libeigen3-dev).
set -e
# run with bash
PY=${PY:-python3}
OUT=${OUT:-$HOME/.cache/celltrace/btrack}
BT=$($PY -c "import btrack, os; print(os.path.dirname(btrack.__file__))")
mkdir -p "$OUT/obj"
ln -sfn /usr/include/eigen3 "$OUT/eigen"
for f in "$BT"/src/*.cc; do
  g++ -c -std=c++17 -m64 -fPIC -O3 -DNDEBUG -I"$OUT" -I"$BT/include" "$f" -o "$OUT/obj/$(basename "$f" .cc).o" &
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do sleep 1; done
done
wait
g++ -shared -o "$OUT/libtracker.so" "$OUT"/obj/*.o
echo "$OUT/libtracker.so"
