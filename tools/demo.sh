#!/bin/sh
# Demo generation: a real trained model from ../shared/models when present,
# otherwise a small random-weight model made by `ember gen` (gibberish text).
set -e
cd "$(dirname "$0")/.."
M=../shared/models/kjv-20m-q8_0.gguf
if [ -f "$M" ]; then
  echo "demo: $M (trained on the King James Bible), greedy" >&2
  ./ember run -m "$M" -p "And God said" -n 64 --temp 0
else
  echo "demo: ../shared/models not found; generating a random-weight model with ember gen (its text is gibberish)" >&2
  mkdir -p build
  ./ember gen --arch llama --n-embd 256 --n-layer 4 --n-head 8 --n-head-kv 4 --n-ff 768 --n-vocab 512 \
    --type q8_0 --seed 1 -o build/demo-random.gguf
  ./ember run -m build/demo-random.gguf -p "Once upon a time" -n 32 --temp 0
fi
