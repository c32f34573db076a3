#!/bin/sh
# ember quantize from the CLI: output runs, bad input gives one line + exit 2
# and leaves no file behind.
. "$(dirname "$0")/lib_cli.sh"
M="$S/models/stories260K.gguf"
if [ ! -f "$M" ]; then echo "SKIP cli_quantize: ../shared not found"; exit 0; fi
if "$E" quantize "$M" "$T/q.gguf" Q8_0 >"$T/o" 2>"$T/e" && grep -q "bits per weight" "$T/o" &&
   "$E" run -m "$T/q.gguf" -p "Once upon a time" -n 8 --temp 0 >/dev/null 2>&1; then pass quantize_runs; else fail quantize_runs "$(cat "$T/e")"; fi
"$E" quantize "$M" "$T/x.gguf" Q9_9 >/dev/null 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && [ ! -e "$T/x.gguf" ]; then pass quantize_unknown_type; else fail quantize_unknown_type "rc=$rc $(cat "$T/e")"; fi
head -c 50000 "$M" >"$T/trunc.gguf"
"$E" quantize "$T/trunc.gguf" "$T/x.gguf" Q4_0 >/dev/null 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && [ ! -e "$T/x.gguf" ]; then pass quantize_corrupt_input; else fail quantize_corrupt_input "rc=$rc $(cat "$T/e")"; fi
"$E" quantize "$M" "$T/nodir/x.gguf" Q4_0 >/dev/null 2>"$T/e"; rc=$?
if [ $rc -ne 0 ] && [ ! -e "$T/nodir" ]; then pass quantize_unwritable; else fail quantize_unwritable "rc=$rc"; fi
"$E" quantize "$T/q.gguf" "$T/r.gguf" Q4_0 >/dev/null 2>"$T/e"
if grep -q "already quantized" "$T/e"; then pass quantize_requant_warning; else fail quantize_requant_warning "$(cat "$T/e")"; fi

# more bits, lower (or equal within noise) perplexity: kjv-20m-f32 -> Q8_0, Q4_K_M, Q2_K
K="$S/models/kjv-20m-f32.gguf"; X="$S/text/kjv-heldout-a.txt"
if [ -f "$K" ] && [ -f "$X" ]; then
  ppl() { "$E" eval perplexity -m "$1" -f "$X" --ctx 128 --chunks 16 --json 2>/dev/null | sed -n 's/.*"ppl": \([0-9.]*\).*/\1/p'; }
  f32=$(ppl "$K")
  for q in Q8_0 Q4_K_M Q2_K; do "$E" quantize "$K" "$T/k-$q.gguf" "$q" -t 2 >/dev/null 2>&1; done
  q8=$(ppl "$T/k-Q8_0.gguf"); q4=$(ppl "$T/k-Q4_K_M.gguf"); q2=$(ppl "$T/k-Q2_K.gguf")
  if [ -n "$f32" ] && [ -n "$q2" ] && awk "BEGIN{exit !($q8 < $f32*1.005 && $q8 <= $q4*1.005 && $q4 < $q2)}"; then pass quantize_ppl_order
  else fail quantize_ppl_order "f32 $f32 q8 $q8 q4_k_m $q4 q2_k $q2"; fi
fi
