#!/bin/sh
# ember run / tokenize: end-to-end behaviour and bad-input handling (exit 2, one line).
. "$(dirname "$0")/lib_cli.sh"

# expect_err NAME CMD...: exit status 2 and exactly one line on stderr
expect_err() {
  name=$1; shift
  "$@" >"$T/out" 2>"$T/err"; rc=$?
  lines=$(wc -l <"$T/err")
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ]; then pass "$name"; else fail "$name" "rc=$rc lines=$lines: $(head -c 300 "$T/err")"; fi
}

expect_err run_no_model "$E" run -p hi
expect_err run_missing_file "$E" run -m "$T/nope.gguf" -p hi
printf 'not a gguf file at all' >"$T/bad.gguf"
expect_err run_not_gguf "$E" run -m "$T/bad.gguf" -p hi
expect_err run_unknown_flag "$E" run -m "$T/bad.gguf" --bogus
expect_err run_negative_n "$E" run -m "$T/bad.gguf" -p hi -n -5
expect_err run_top_p_2 "$E" run -m "$T/bad.gguf" -p hi --top-p 2
expect_err run_temp_nan "$E" run -m "$T/bad.gguf" -p hi --temp nan
expect_err run_threads_0 "$E" run -m "$T/bad.gguf" -p hi -t 0
expect_err run_missing_value "$E" run -m
expect_err unknown_command "$E" frobnicate

M="$S/models/stories260K.gguf"
if [ -f "$M" ]; then
  head -c 100000 "$M" >"$T/trunc.gguf"
  expect_err run_truncated "$E" run -m "$T/trunc.gguf" -p hi
  expect_err run_prompt_over_ctx "$E" run -m "$M" -p "Once upon a time there was a very long story" --ctx 4
  out=$("$E" run -m "$M" -p "Once upon a time" -n 24 --temp 0 --json 2>/dev/null)
  case "$out" in
    *'"tokens": [432, 383, 286'*'"text": ", there was a little girl'*) pass run_json_greedy ;;
    *) fail run_json_greedy "$out" ;;
  esac
  a=$("$E" run -m "$M" -p "Once upon a time" -n 24 --temp 0.9 --seed 7 2>/dev/null)
  b=$("$E" run -m "$M" -p "Once upon a time" -n 24 --temp 0.9 --seed 7 -t 1 2>/dev/null)
  c=$("$E" run -m "$M" -p "Once upon a time" -n 24 --temp 0.9 --seed 8 2>/dev/null)
  if [ "$a" = "$b" ] && [ -n "$a" ]; then pass run_seed_reproducible; else fail run_seed_reproducible "$a | $b"; fi
  if [ "$a" != "$c" ]; then pass run_seed_changes_output; else fail run_seed_changes_output "$a"; fi
  "$E" run -m "$M" -p "Once upon a time" -n 8 --temp 0 >"$T/o" 2>"$T/e"
  if grep -q "tok/s" "$T/e" && [ -s "$T/o" ]; then pass run_streams_and_times; else fail run_streams_and_times "$(cat "$T/e")"; fi
  ids=$("$E" tokenize -m "$M" -p "Once upon a time" --json)
  if [ "$ids" = '{"ids": [1, 403, 407, 261, 378]}' ]; then pass tokenize_json; else fail tokenize_json "$ids"; fi
else
  echo "SKIP run_with_model: $M not found"
fi

# ember run --json reproduces golden cases end to end (prompt text in, ids
# out), including one that ends with the end-of-sequence token
G="$S/golden/synth-v512-Q4_K_M.jsonl"
if [ -f "$G" ] && command -v python3 >/dev/null 2>&1; then
  if python3 - "$E" "$S" <<'PY'
import json, subprocess, sys
exe, shared = sys.argv[1], sys.argv[2]
ok = True
# the repacked models also from the file layout (--no-repack): same ids
for name, idx, extra in (("synth-v512-Q4_K_M", 2, []), ("synth-v512-f32", 4, []), ("kjv-5m-q8_0", 0, []),
                         ("kjv-5m-q8_0", 0, ["--no-repack"]), ("synth-v512-Q4_0", 3, []), ("synth-v512-Q4_0", 3, ["--no-repack"])):
    c = json.loads(open(f"{shared}/golden/{name}.jsonl").readlines()[idx])
    out = subprocess.run([exe, "run", "-m", f"{shared}/models/{c['model']}", "-p", c["prompt"], "-n", str(c["n_predict"]),
                          "--temp", "0", "--json"] + extra, capture_output=True, text=True).stdout
    d = json.loads(out)
    if d["prompt_tokens"] != c["prompt_tokens"] or d["tokens"] != c["tokens"]:
        print(name, idx, extra, file=sys.stderr)
        ok = False
sys.exit(0 if ok else 1)
PY
  then pass run_golden_cases_cli; else fail run_golden_cases_cli "ember run --json differs from ../shared/golden"; fi
fi

# golden_on_path CHECK PATH WHY MODEL...: every golden case of the models
# through ember run with EMBER_CPU=PATH; skipped (saying WHY) where the CPU
# cannot run that path or ../shared lacks the first model's cases
golden_on_path() {
  check=$1 path=$2 why=$3
  shift 3
  if [ ! -f "$S/golden/$1.jsonl" ] || ! command -v python3 >/dev/null 2>&1; then return 0; fi
  got=$(EMBER_CPU=$path "$E" info --cpu 2>/dev/null | awk '$1 == "path:" {print $2}')
  if [ "$got" != "$path" ]; then
    echo "SKIP $check: $why (path: $got)"
  elif EMBER_CPU=$path python3 - "$E" "$S" "$@" <<'PY'
import json, os, subprocess, sys
exe, shared = sys.argv[1], sys.argv[2]
bad, n = [], 0
for name in sys.argv[3:]:
    g = f"{shared}/golden/{name}.jsonl"
    if not os.path.exists(g): continue
    for i, line in enumerate(open(g)):
        c = json.loads(line)
        r = subprocess.run([exe, "run", "-m", f"{shared}/models/{c['model']}", "-p", c["prompt"], "-n", str(c["n_predict"]),
                            "--temp", "0", "--json"], capture_output=True, text=True)
        d = json.loads(r.stdout)
        n += 1
        if d["prompt_tokens"] != c["prompt_tokens"] or d["tokens"] != c["tokens"] or "warning" in r.stderr:
            bad.append((name, i))
if bad or n == 0: print("cases", bad, "of", n, file=sys.stderr)
sys.exit(1 if bad or n == 0 else 0)
PY
  then pass "$check"; else fail "$check" "EMBER_CPU=$path ember run differs from ../shared/golden"; fi
}

# The AMX Q4_0 prompt kernel, its tile instructions modelled in C
# (EMBER_CPU=amx-emu, any AVX-512 machine): every synth-v512-Q4_0 golden
# case (prompts of 10..28 tokens: one partial tile of 16 tokens or a full
# and a partial one)
golden_on_path run_golden_amx_emulated amx-emu "no AVX-512 for the modelled AMX kernel" synth-v512-Q4_0

# The AVX-VNNI int8 kernels (VPDPBUSD): EMBER_CPU=avxvnni-emu is the avx2
# path with them, built EVEX (AVX512-VNNI + VL machines); every golden case
# of the Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 models (prompt batches: the rows16 and
# packed tokens kernels; decoding: vec_dot, tokens, packed)
golden_on_path run_golden_avxvnni_emulated avxvnni-emu "no AVX512-VNNI + VL for the EVEX build of the AVX-VNNI kernels" \
  synth-v512-Q8_0 synth-v512-Q4_0 synth-v512-Q4_1 synth-v512-Q5_0 synth-v512-Q5_1 kjv-5m-q8_0 kjv-20m-q8_0

# One-token attention takes up to 4 query heads of a K/V head together
# through the multi-token dot on the SIMD paths, and the same heads one at
# a time through vec_dot on the scalar path (no multi-token dot there);
# both give vec_dot's results, so greedy text is identical. Groups of 8
# (two sets of 4), 6 (4 + 2) and 1, F16 and F32 caches; no ../shared
# needed. (Which heads a job takes is shared by both paths: the golden
# models check it for groups of 1 and 2.)
for g in "8 1" "12 2" "4 4"; do
  set -- $g
  name=run_attention_heads_${1}_$2
  "$E" gen --arch llama --n-embd 192 --n-layer 2 --n-head "$1" --n-head-kv "$2" --n-ff 256 --n-vocab 512 --ctx 256 \
    --type f16 --seed 3 --scale 0.2 -o "$T/heads.gguf" >/dev/null 2>&1 || { fail "$name" "ember gen failed"; continue; }
  ok=1; detail=
  for kv in "" --kv-f32; do
    ref=$(EMBER_CPU=scalar "$E" run -m "$T/heads.gguf" -p "hello world" -n 48 --temp 0 $kv 2>/dev/null)
    [ -n "$ref" ] || { ok=0; detail="no scalar output (cache ${kv:-f16})"; }
    for path in avx2 "$(EMBER_CPU= "$E" info --cpu 2>/dev/null | awk '/^path:/ {print $2}')"; do
      got=$(EMBER_CPU=$path "$E" run -m "$T/heads.gguf" -p "hello world" -n 48 --temp 0 $kv 2>/dev/null)
      [ "$got" = "$ref" ] || { ok=0; detail="$path differs from scalar (cache ${kv:-f16})"; }
    done
  done
  if [ "$ok" = 1 ]; then pass "$name"; else fail "$name" "$detail"; fi
done
