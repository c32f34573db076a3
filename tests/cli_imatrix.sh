#!/bin/sh
# ember imatrix and ember quantize --imatrix from the CLI: an importance
# matrix collected on one half of the held-out text makes a Q2_K kjv-20m
# that loads and is no worse on the other half; hostile imatrix files and
# missing ones give one line + exit 2 and leave no output behind.
. "$(dirname "$0")/lib_cli.sh"
M="$S/models/stories260K.gguf"; K="$S/models/kjv-20m-f32.gguf"; X="$S/text/kjv-heldout-a.txt"
if [ ! -f "$M" ] || [ ! -f "$X" ]; then echo "SKIP cli_imatrix: ../shared not found"; exit 0; fi
one_line_2() { [ "$1" -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ]; }

# stories260K: collect, quantize, run
if "$E" imatrix -m "$M" -f "$X" -o "$T/s.dat" --ctx 64 --chunks 4 --json >"$T/o" 2>"$T/e" &&
   grep -q '"entries": 35' "$T/o" && [ -s "$T/s.dat" ] &&
   "$E" quantize --imatrix "$T/s.dat" "$M" "$T/s.gguf" Q4_0 >/dev/null 2>"$T/e" &&
   "$E" run -m "$T/s.gguf" -p "Once upon a time" -n 8 --temp 0 >/dev/null 2>&1
then pass imatrix_stories_quantize_runs; else fail imatrix_stories_quantize_runs "$(cat "$T/o" "$T/e")"; fi

# bad input: too little text, unknown flag, missing model
head -c 200 "$X" >"$T/short.txt"
"$E" imatrix -m "$M" -f "$T/short.txt" -o "$T/x.dat" --ctx 64 >/dev/null 2>"$T/e"; rc=$?
if one_line_2 $rc && [ ! -e "$T/x.dat" ]; then pass imatrix_short_text; else fail imatrix_short_text "rc=$rc $(cat "$T/e")"; fi
"$E" imatrix -m "$M" -f "$X" --frobnicate >/dev/null 2>"$T/e"; rc=$?
if one_line_2 $rc; then pass imatrix_unknown_flag; else fail imatrix_unknown_flag "rc=$rc"; fi
"$E" imatrix -m "$T/none.gguf" -f "$X" -o "$T/x.dat" >/dev/null 2>"$T/e"; rc=$?
if one_line_2 $rc && [ ! -e "$T/x.dat" ]; then pass imatrix_missing_model; else fail imatrix_missing_model "rc=$rc $(cat "$T/e")"; fi

# hostile imatrix files: truncated, garbage, a NaN value, empty
head -c 100 "$T/s.dat" >"$T/trunc.dat"
printf 'not an imatrix at all' >"$T/garbage.dat"
: >"$T/empty.dat"
cp "$T/s.dat" "$T/nan.dat"
# first entry's first value: 4 (count) + 4 (len) + name + 8 (ncall, nval)
nl=$(od -An -tu4 -j4 -N4 "$T/s.dat" | tr -d ' ')
printf '\377\377\377\177' | dd of="$T/nan.dat" bs=1 seek=$((16 + nl)) conv=notrunc 2>/dev/null
ok=1
for f in trunc garbage empty nan none; do
  "$E" quantize --imatrix "$T/$f.dat" "$M" "$T/x.gguf" Q4_0 >/dev/null 2>"$T/e"; rc=$?
  if ! one_line_2 $rc || [ -e "$T/x.gguf" ]; then ok=0; echo "  $f: rc=$rc $(cat "$T/e")" >&2; fi
done
if [ $ok -eq 1 ]; then pass quantize_hostile_imatrix; else fail quantize_hostile_imatrix "see above"; fi

# Q2_K_S needs an imatrix
"$E" quantize "$M" "$T/x.gguf" Q2_K_S >/dev/null 2>"$T/e"; rc=$?
if one_line_2 $rc && [ ! -e "$T/x.gguf" ]; then pass quantize_q2_k_s_needs_imatrix; else fail quantize_q2_k_s_needs_imatrix "rc=$rc $(cat "$T/e")"; fi

[ -f "$K" ] || exit 0
# another model's imatrix: sizes differ -> error, no output
"$E" quantize --imatrix "$T/s.dat" "$K" "$T/x.gguf" Q4_K_M >/dev/null 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && grep -q "values, the tensor needs" "$T/e" && [ ! -e "$T/x.gguf" ]; then pass quantize_imatrix_wrong_model
else fail quantize_imatrix_wrong_model "rc=$rc $(cat "$T/e")"; fi

# kjv-20m: imatrix from the first half of the text, perplexity on the second
head -c 16700 "$X" >"$T/a.txt"; tail -c +16701 "$X" >"$T/b.txt"
ppl() { "$E" eval perplexity -m "$1" -f "$T/b.txt" --ctx 128 --chunks 8 --json 2>/dev/null | sed -n 's/.*"ppl": \([0-9.]*\).*/\1/p'; }
if "$E" imatrix -m "$K" -f "$T/a.txt" -o "$T/k.dat" --ctx 128 --chunks 8 -t 2 >/dev/null 2>"$T/e" &&
   "$E" quantize --imatrix "$T/k.dat" "$K" "$T/ki.gguf" Q2_K -t 2 >/dev/null 2>"$T/e" &&
   "$E" quantize "$K" "$T/kn.gguf" Q2_K -t 2 >/dev/null 2>&1; then
  f32=$(ppl "$K"); pi=$(ppl "$T/ki.gguf"); pn=$(ppl "$T/kn.gguf")
  if [ -n "$pi" ] && [ -n "$pn" ] && awk "BEGIN{exit !($pi > $f32 && $pi < $f32*1.1 && $pi < $pn*1.01)}"; then pass imatrix_q2_k_ppl_sane
  else fail imatrix_q2_k_ppl_sane "f32 $f32 q2_k+imatrix $pi q2_k $pn"; fi
else fail imatrix_q2_k_ppl_sane "$(cat "$T/e")"; fi
