#!/bin/sh
# CLI tests for `ember info` and `ember gen`. Prints PASS/FAIL/SKIP lines.
EMBER=${EMBER:-./ember}
SHARED=${EMBER_SHARED:-../shared}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "  $l" >&2; done; }
skip() { echo "SKIP $1: $2"; }

# info on a shared model: metadata, tensor table and totals
M="$SHARED/models/stories260K.gguf"
if [ -f "$M" ]; then
  out=$("$EMBER" info "$M" 2>"$T/err"); rc=$?
  if [ $rc -eq 0 ] && echo "$out" | grep -q '^version: *3' &&
     echo "$out" | grep -q 'tokenizer.ggml.tokens  *arr  *\[512 strings: "<unk>", "<s>", "</s>", "<0x00>", ...\]' &&
     echo "$out" | grep -q 'llama.attention.layer_norm_rms_epsilon  *f32  *1e-05' &&
     echo "$out" | grep -q 'blk.0.ffn_down.weight  *F32  *172 x 64  *44032' &&
     echo "$out" | grep -q '^totals: *292,800 params, 1,171,200 bytes, 32.00 bits per weight' &&
     echo "$out" | grep -q '^types: *F32: 48$'; then
    pass info_shared_model
  else
    fail info_shared_model "rc=$rc" "$(head -c 600 "$T/err")"
  fi
  out=$("$EMBER" info --json "$M"); rc=$?
  if [ $rc -eq 0 ] && echo "$out" | grep -q '"params": 292800' && echo "$out" | grep -q '"count": 512, "truncated": true' &&
     echo "$out" | grep -q '{"name": "token_embd.weight", "type": "F32", "type_id": 0, "shape": \[64, 512\], "bytes": 131072, "offset": 14176}'; then
    if command -v python3 >/dev/null 2>&1; then
      if echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["tensors"])==48 and d["metadata"][0]["value"][:2]==["<unk>","<s>"]'; then
        pass info_json
      else
        fail info_json "python could not parse the JSON"
      fi
    else
      pass info_json
    fi
  else
    fail info_json "rc=$rc"
  fi
else
  skip info_shared_model "$M not found"
  skip info_json "$M not found"
fi

# every shared GGUF gives valid JSON, even with full arrays (non-UTF-8 bytes, escapes)
if command -v python3 >/dev/null 2>&1 && [ -d "$SHARED/tokenizer-tests" ]; then
  bad=""
  for f in "$SHARED"/tokenizer-tests/*.gguf "$SHARED"/models/*.gguf; do
    [ -f "$f" ] || continue
    "$EMBER" info --json --full "$f" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null || bad="$bad $f"
  done
  if [ -z "$bad" ]; then pass info_json_all_shared; else fail info_json_all_shared "invalid JSON for:$bad"; fi
else
  skip info_json_all_shared "python3 or shared tokenizer-tests missing"
fi

# corrupt and missing files: exit 2 and exactly one line on stderr
check_bad() { # name file substring
  "$EMBER" info "$2" >"$T/out" 2>"$T/err"; rc=$?
  lines=$(wc -l <"$T/err")
  if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -q "^ember info: .*$3" "$T/err" && [ ! -s "$T/out" ]; then
    pass "$1"
  else
    fail "$1" "rc=$rc lines=$lines: $(cat "$T/err")"
  fi
}
printf 'GGUF' >"$T/short.gguf"
check_bad info_too_short "$T/short.gguf" "too short"
printf 'GGML\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' >"$T/magic.gguf"
check_bad info_bad_magic "$T/magic.gguf" "bad magic"
printf 'GGUF\001\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' >"$T/v1.gguf"
check_bad info_version_1 "$T/v1.gguf" "version 1 is not supported"
check_bad info_missing_file "$T/nope.gguf" "No such file"
if [ -f "$M" ]; then
  head -c 100000 "$M" >"$T/trunc.gguf"
  check_bad info_truncated_model "$T/trunc.gguf" "extends past the end of the file"
else
  skip info_truncated_model "$M not found"
fi
"$EMBER" info >/dev/null 2>"$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "^ember info: no file" "$T/err"; then pass info_usage; else fail info_usage "rc=$rc"; fi

# --cpu names the kernel path
out=$("$EMBER" info --cpu); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -Eq '^path: *(scalar|avx2|avx512)$'; then pass info_cpu; else fail info_cpu "rc=$rc $out"; fi

# gen: a tiny model, then info on it; deterministic by seed
G="$EMBER gen --n-embd 64 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 128 --ctx 128 --n-vocab 300 --type q8_0"
if $G --seed 3 -o "$T/a.gguf" 2>"$T/err" && $G --seed 3 -o "$T/b.gguf" 2>/dev/null && $G --seed 4 -o "$T/c.gguf" 2>/dev/null; then
  out=$("$EMBER" info "$T/a.gguf")
  if echo "$out" | grep -q 'general.file_type  *u32  *7' && echo "$out" | grep -q 'llama.block_count  *u32  *2' &&
     echo "$out" | grep -q 'token_embd.weight  *Q8_0  *64 x 300' && echo "$out" | grep -q 'blk.1.ffn_down.weight  *Q8_0  *128 x 64' &&
     echo "$out" | grep -q 'output_norm.weight  *F32  *64 ' && echo "$out" | grep -q '^types: *F32: 5, Q8_0: 16$' &&
     echo "$out" | grep -q 'tokenizer.ggml.tokens  *arr  *\[300 strings: "<unk>", "<s>", "</s>", "<0x00>", ...\]'; then
    pass gen_tiny_info
  else
    fail gen_tiny_info "$out"
  fi
  if cmp -s "$T/a.gguf" "$T/b.gguf" && ! cmp -s "$T/a.gguf" "$T/c.gguf"; then pass gen_deterministic; else fail gen_deterministic; fi
  # the model loads and runs in ember
  if "$EMBER" run -m "$T/a.gguf" -p "hello" -n 4 --temp 0 >/dev/null 2>"$T/err"; then pass gen_model_runs
  else fail gen_model_runs "$(cat "$T/err")"; fi
else
  fail gen_tiny_info "$(cat "$T/err")"
fi

# qwen2 (q/k/v biases) and qwen3 (q/k norms, explicit head_dim)
if "$EMBER" gen --arch qwen2 --n-embd 64 --n-layer 1 --n-head 4 --n-head-kv 2 --n-ff 64 --n-vocab 300 --type f16 -o "$T/q2.gguf" 2>/dev/null &&
   "$EMBER" info "$T/q2.gguf" | grep -q 'blk.0.attn_k.bias  *F32  *32 ' &&
   "$EMBER" info "$T/q2.gguf" | grep -q 'qwen2.rope.dimension_count  *u32  *16'; then
  pass gen_qwen2
else
  fail gen_qwen2
fi
if "$EMBER" gen --arch qwen3 --n-embd 64 --n-layer 1 --n-head 4 --n-head-kv 2 --head-dim 32 --n-ff 64 --n-vocab 300 --type f32 -o "$T/q3.gguf" 2>/dev/null &&
   out=$("$EMBER" info "$T/q3.gguf") && echo "$out" | grep -q 'blk.0.attn_q_norm.weight  *F32  *32 ' &&
   echo "$out" | grep -q 'blk.0.attn_q.weight  *F32  *64 x 128' && echo "$out" | grep -q 'blk.0.attn_output.weight  *F32  *128 x 64' &&
   echo "$out" | grep -q 'qwen3.attention.key_length  *u32  *32'; then
  pass gen_qwen3
else
  fail gen_qwen3
fi

# --vocab-from copies the tokenizer
V="$SHARED/tokenizer-tests/ggml-vocab-llama-spm.gguf"
if [ -f "$V" ]; then
  if "$EMBER" gen --n-embd 32 --n-layer 1 --n-head 2 --n-ff 32 --type f32 --vocab-from "$V" -o "$T/v.gguf" 2>/dev/null &&
     out=$("$EMBER" info "$T/v.gguf") && echo "$out" | grep -q 'llama.vocab_size  *u32  *32000' &&
     echo "$out" | grep -q 'tokenizer.ggml.pre  *str  *"default"' && echo "$out" | grep -q 'token_embd.weight  *F32  *32 x 32000'; then
    pass gen_vocab_from
  else
    fail gen_vocab_from
  fi
else
  skip gen_vocab_from "$V not found"
fi

# flag validation: exit 2, one line, no output file
check_gen_bad() { # name substring args...
  name=$1; sub=$2; shift 2
  "$EMBER" gen "$@" -o "$T/bad.gguf" >/dev/null 2>"$T/err"; rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^ember gen: .*$sub" "$T/err" && [ ! -e "$T/bad.gguf" ]; then
    pass "$name"
  else
    fail "$name" "rc=$rc: $(cat "$T/err")"
  fi
}
check_gen_bad gen_bad_heads "not a multiple of --n-head 3" --n-embd 64 --n-layer 1 --n-head 3 --n-ff 64
check_gen_bad gen_bad_kv_heads "not a multiple of --n-head-kv 3" --n-embd 64 --n-layer 1 --n-head 4 --n-head-kv 3 --n-ff 64
check_gen_bad gen_bad_block "multiples of 32, but n_ff = 100" --n-embd 64 --n-layer 1 --n-head 4 --n-ff 100 --type q4_0
check_gen_bad gen_bad_type "unknown or unusable --type 'q9_9'" --n-embd 64 --n-layer 1 --n-head 4 --n-ff 64 --type q9_9
check_gen_bad gen_bad_size "expects an integer" --n-embd -5 --n-layer 1 --n-head 4 --n-ff 64
check_gen_bad gen_missing "--n-layer is required" --n-embd 64 --n-head 4 --n-ff 64
check_gen_bad gen_small_vocab "n-vocab >= 259" --n-embd 64 --n-layer 1 --n-head 4 --n-ff 64 --n-vocab 100
check_gen_bad gen_bad_preset "unknown preset" --preset nope
check_gen_bad gen_bad_vocab_from "vocab-from" --n-embd 64 --n-layer 1 --n-head 4 --n-ff 64 --vocab-from "$T/nope.gguf"

# an impossible destination: exit 1, nothing left behind
"$EMBER" gen --preset tiny -o "$T/no-such-dir/x.gguf" >/dev/null 2>"$T/err"; rc=$?
if [ $rc -eq 1 ] && [ ! -e "$T/no-such-dir" ] && grep -q "^ember gen: cannot create a temporary file" "$T/err"; then pass gen_unwritable
else fail gen_unwritable "rc=$rc $(cat "$T/err")"; fi
