#!/bin/sh
# Speculative decoding from the CLI: byte-identical text, statistics, the
# invariance screen passing on real pairs and failing when verification is
# deliberately broken, and a clear error for mismatched vocabularies.
. "$(dirname "$0")/lib_cli.sh"
M="$S/models"
if [ ! -f "$M/stories260K.gguf" ] || [ ! -f "$M/kjv-20m-q8_0.gguf" ]; then echo "SKIP cli_spec: ../shared/models not found"; exit 0; fi

a=$("$E" run -m "$M/kjv-20m-q8_0.gguf" -p "And God said" -n 40 --temp 0 2>/dev/null)
b=$("$E" run -m "$M/kjv-20m-q8_0.gguf" -p "And God said" -n 40 --temp 0 --draft "$M/kjv-5m-q8_0.gguf" --draft-max 6 2>"$T/err")
if [ -n "$a" ] && [ "$a" = "$b" ]; then pass spec_run_identical_text; else fail spec_run_identical_text "$a | $b"; fi
if grep -q "accepted" "$T/err"; then pass spec_run_stats; else fail spec_run_stats "$(cat "$T/err")"; fi
j=$("$E" run -m "$M/kjv-20m-q8_0.gguf" -p "And God said" -n 16 --temp 0 --lookup 3 --draft "$M/kjv-20m-q4_k_m.gguf" --compare --json 2>/dev/null)
case "$j" in *'"acceptance_rate"'*'"speedup"'*) pass spec_run_json ;; *) fail spec_run_json "$j" ;; esac

printf 'Once upon a time\nThe little dog\nTom and Lily went to the park\nShe saw a big red ball\n' >"$T/prompts"
"$E" screen invariance -m "$M/stories260K.gguf" --draft "$M/stories260K-q8_0-derived.gguf" --prompts "$T/prompts" -n 32 >"$T/o" 2>&1
if [ $? -eq 0 ] && grep -q "4 passed, 0 failed" "$T/o"; then pass screen_passes; else fail screen_passes "$(cat "$T/o")"; fi
EMBER_DEBUG_SPEC_PERTURB=1 "$E" screen invariance -m "$M/stories260K.gguf" --draft "$M/stories260K-q8_0-derived.gguf" --prompts "$T/prompts" -n 32 >"$T/o" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "^FAIL" "$T/o" && grep -q "first difference" "$T/o"; then pass screen_catches_broken_verification; else fail screen_catches_broken_verification "rc=$rc $(cat "$T/o")"; fi
"$E" screen invariance -m "$M/stories260K.gguf" --draft "$M/stories260K-q8_0-derived.gguf" --prompts "$T/prompts" --sampling --samples 400 --json >"$T/o" 2>&1
if [ $? -eq 0 ] && grep -q '"p_value"' "$T/o"; then pass screen_sampling; else fail screen_sampling "$(cat "$T/o")"; fi

"$E" run -m "$M/stories260K.gguf" -p hi -n 4 --temp 0 --draft "$M/kjv-5m-q8_0.gguf" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "vocabular" "$T/err"; then pass spec_vocab_mismatch; else fail spec_vocab_mismatch "rc=$rc $(cat "$T/err")"; fi

# adaptive draft length: a never-accepted draft (debug hook) is backed off to
# plain target steps (identical text, few drafts); --draft-fixed keeps
# drafting --draft-max every round; stats in --json
if [ -f "$M/kjv-20m-f32.gguf" ] && [ -f "$M/kjv-20m-q4_k_m.gguf" ]; then
  a=$("$E" run -m "$M/kjv-20m-f32.gguf" -p "And God said" -n 120 --temp 0 2>/dev/null)
  ja=$(EMBER_DEBUG_SPEC_BAD_DRAFT=1 "$E" run -m "$M/kjv-20m-f32.gguf" -p "And God said" -n 120 --temp 0 --draft "$M/kjv-20m-q4_k_m.gguf" --json 2>/dev/null)
  jf=$(EMBER_DEBUG_SPEC_BAD_DRAFT=1 "$E" run -m "$M/kjv-20m-f32.gguf" -p "And God said" -n 120 --temp 0 --draft "$M/kjv-20m-q4_k_m.gguf" --draft-fixed --json 2>/dev/null)
  b=$(EMBER_DEBUG_SPEC_BAD_DRAFT=1 "$E" run -m "$M/kjv-20m-f32.gguf" -p "And God said" -n 120 --temp 0 --draft "$M/kjv-20m-q4_k_m.gguf" 2>"$T/err")
  da=$(echo "$ja" | sed -n 's/.*"drafted": \([0-9]*\).*/\1/p')
  df=$(echo "$jf" | sed -n 's/.*"drafted": \([0-9]*\).*/\1/p')
  case "$ja" in *'"adaptive": true'*'"mean_drafted_per_round"'*'"rounds_no_draft"'*) ok=1 ;; *) ok=0 ;; esac
  if [ "$ok" = 1 ] && [ -n "$da" ] && [ -n "$df" ] && [ "$df" -ge 500 ] && [ $((da * 8)) -lt "$df" ] && [ "$a" = "$b" ]; then
    pass spec_adaptive_backs_off; else fail spec_adaptive_backs_off "drafted adaptive=$da fixed=$df | $ja"; fi
  if grep -q "adaptive length" "$T/err" && grep -q "rounds without drafts" "$T/err"; then pass spec_adaptive_stats; else fail spec_adaptive_stats "$(cat "$T/err")"; fi
  j=$("$E" bench -m "$M/kjv-20m-f32.gguf" --draft "$M/kjv-20m-q4_k_m.gguf" -n 32 -r 1 -t 1 --json --draft-fixed 2>/dev/null)
  case "$j" in *'"adaptive": false'*'"mean_drafted_per_round"'*) pass spec_bench_fixed ;; *) fail spec_bench_fixed "$j" ;; esac
fi
