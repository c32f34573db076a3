#!/bin/sh
# ember eval: perplexity equals llama.cpp's llama-perplexity on the same file
# and context (published in ../shared/models/PROVENANCE.md); KL divergence
# behaves (zero against itself, small for Q8_0, larger for Q4_K_M).
. "$(dirname "$0")/lib_cli.sh"
M="$S/models"; X="$S/text/kjv-heldout-a.txt"
if [ ! -f "$M/kjv-20m-q8_0.gguf" ] || [ ! -f "$X" ]; then echo "SKIP cli_eval: ../shared not found"; exit 0; fi

# llama-perplexity -c 128: kjv-20m-q8_0 42.1830, kjv-5m-q8_0 62.1744
for pair in "kjv-20m-q8_0 42.1830" "kjv-5m-q8_0 62.1744"; do
  set -- $pair
  out=$("$E" eval perplexity -m "$M/$1.gguf" -f "$X" --ctx 128 --json 2>/dev/null)
  got=$(echo "$out" | sed -n 's/.*"ppl": \([0-9.]*\).*/\1/p')
  if [ -n "$got" ] && [ "$(printf '%.4f' "$got")" = "$2" ]; then pass "perplexity_$1"; else fail "perplexity_$1" "$out (want $2)"; fi
done
out=$("$E" eval kld --base "$M/kjv-20m-q8_0.gguf" -m "$M/kjv-20m-q8_0.gguf" -f "$X" --ctx 128 --chunks 4 --json 2>/dev/null)
case "$out" in *'"kld_max": 0.000000'*'"top1_agreement": 1.000000'*) pass kld_self_zero ;; *) fail kld_self_zero "$out" ;; esac
q8=$("$E" eval kld --base "$M/kjv-20m-f32.gguf" -m "$M/kjv-20m-q8_0.gguf" -f "$X" --ctx 128 --chunks 6 --json 2>/dev/null | sed -n 's/.*"kld_mean": \([0-9.]*\).*/\1/p')
q4=$("$E" eval kld --base "$M/kjv-20m-f32.gguf" -m "$M/kjv-20m-q4_k_m.gguf" -f "$X" --ctx 128 --chunks 6 --json 2>/dev/null | sed -n 's/.*"kld_mean": \([0-9.]*\).*/\1/p')
if [ -n "$q8" ] && [ -n "$q4" ] && awk "BEGIN{exit !($q8 > 0 && $q8 < 0.001 && $q4 > $q8)}"; then pass kld_orders_quants; else fail kld_orders_quants "q8 $q8 q4 $q4"; fi
printf 'too short' >"$T/short.txt"
"$E" eval perplexity -m "$M/kjv-20m-q8_0.gguf" -f "$T/short.txt" --ctx 128 >/dev/null 2>"$T/err"
if [ $? -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ]; then pass eval_short_text; else fail eval_short_text "$(cat "$T/err")"; fi
"$E" eval kld --base "$M/stories260K.gguf" -m "$M/kjv-5m-q8_0.gguf" -f "$X" --ctx 128 >/dev/null 2>"$T/err"
if [ $? -eq 2 ]; then pass eval_kld_vocab_mismatch; else fail eval_kld_vocab_mismatch "$(cat "$T/err")"; fi

# checkable tasks and the token-inflation comparison
"$E" eval make-tasks --kind all --n 8 --seed 3 -o "$T/tasks.jsonl" 2>"$T/err"
if [ "$(wc -l <"$T/tasks.jsonl")" -eq 8 ] && grep -q '"kind": "arithmetic"' "$T/tasks.jsonl" && grep -q '"answer"' "$T/tasks.jsonl"; then pass make_tasks; else fail make_tasks "$(cat "$T/err")"; fi
"$E" eval make-tasks --kind poems -o "$T/x.jsonl" >/dev/null 2>"$T/err"
if [ $? -eq 2 ] && [ ! -e "$T/x.jsonl" ]; then pass make_tasks_bad_kind; else fail make_tasks_bad_kind "$(cat "$T/err")"; fi
out=$("$E" eval inflation --base "$M/kjv-20m-q8_0.gguf" -m "$M/kjv-5m-q8_0.gguf" --tasks "$T/tasks.jsonl" -n 24 --samples 1 --json --plot "$T/p.svg" 2>/dev/null)
case "$out" in *'"tir"'*'"accuracy"'*'"tokens_mean"'*'"cost_per_correct_s"'*) pass inflation_json ;; *) fail inflation_json "$out" ;; esac
if grep -q "<svg" "$T/p.svg" && grep -q "</svg>" "$T/p.svg"; then pass inflation_plot; else fail inflation_plot "no svg"; fi
printf '{"prompt": "x"}\n' >"$T/bad.jsonl"
"$E" eval inflation --base "$M/kjv-20m-q8_0.gguf" -m "$M/kjv-5m-q8_0.gguf" --tasks "$T/bad.jsonl" >/dev/null 2>"$T/err"
if [ $? -eq 2 ] && grep -q "answer" "$T/err"; then pass inflation_bad_tasks; else fail inflation_bad_tasks "$(cat "$T/err")"; fi
