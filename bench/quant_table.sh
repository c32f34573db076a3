#!/bin/sh
# "What quantization costs" for one model: quantize the F32 file to each type
# with ember quantize, then measure size, bits/weight, perplexity, KL
# divergence and top-1 agreement against F32, generation speed, and the token
# inflation on a fixed task set. Usage: bench/quant_table.sh [MODEL_F32] [TEXT]
set -e
E=${EMBER:-./ember}
M=${1:-../shared/models/kjv-20m-f32.gguf}
X=${2:-../shared/text/kjv-heldout-a.txt}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$E" eval make-tasks --kind all --n 40 --seed 1 --source "$X" -o "$W/tasks.jsonl"
echo "| type | size MB | bits/weight | PPL (ctx 128) | mean KLD | top-1 agree | gen tok/s | TIR | cost per run s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for T in F32 Q8_0 Q6_K Q5_K_M Q4_K_M Q4_0 Q3_K_M Q2_K; do
  if [ "$T" = F32 ]; then Q=$M; else Q="$W/$T.gguf"; "$E" quantize "$M" "$Q" "$T" >/dev/null 2>&1; fi
  size=$(stat -c %s "$Q")
  ppl=$("$E" eval perplexity -m "$Q" -f "$X" --ctx 128 --json 2>/dev/null | sed -n 's/.*"ppl": \([0-9.]*\).*/\1/p')
  kl=$("$E" eval kld --base "$M" -m "$Q" -f "$X" --ctx 128 --json 2>/dev/null)
  kld=$(echo "$kl" | sed -n 's/.*"kld_mean": \([0-9.]*\).*/\1/p'); top=$(echo "$kl" | sed -n 's/.*"top1_agreement": \([0-9.]*\).*/\1/p')
  tg=$("$E" bench -m "$Q" -p 0 -n 64 -r 3 --json 2>/dev/null | sed -n 's/.*"tokens_per_s": \([0-9.]*\).*/\1/p')
  inf=$("$E" eval inflation --base "$M" -m "$Q" --tasks "$W/tasks.jsonl" -n 48 --json 2>/dev/null)
  tir=$(echo "$inf" | sed -n 's/.*"tir": \([0-9.]*\).*/\1/p')
  cost=$(echo "$inf" | sed 's/.*"model"//' | sed -n 's/.*"cost_per_run_s": \([0-9.]*\).*/\1/p')
  bpw=$("$E" info "$Q" --json 2>/dev/null | tr -d '\n' | sed -n 's/.*"bits_per_weight": \([0-9.]*\).*/\1/p')
  printf "| %s | %.1f | %s | %s | %s | %s | %s | %s | %s |\n" "$T" "$(awk "BEGIN{print $size/1e6}")" "$bpw" "$ppl" "$kld" "$top" "$tg" "$tir" "$cost"
done
