#!/bin/sh
# CPU dispatch: EMBER_CPU_DISABLE hides features, so this machine stands in
# for AVX-512 CPUs without BF16 (Cascade Lake, Ice Lake) or without VNNI
# (Skylake-SP): the avx512 path stays, the kernels needing the missing
# extension fall back to AVX2's, and golden cases still come out exact.
. "$(dirname "$0")/lib_cli.sh"

"$E" info --cpu >"$T/o" 2>"$T/e"
path=$(awk '$1 == "path:" {print $2}' "$T/o")
EMBER_CPU_DISABLE=avx512_nonsense "$E" info --cpu >"$T/o2" 2>"$T/e2"
if [ $? -eq 0 ] && grep -q "unknown feature 'avx512_nonsense'" "$T/e2"; then pass cpu_disable_unknown_warns; else fail cpu_disable_unknown_warns "$(cat "$T/e2")"; fi

# the packed copies a path makes at load: none on the scalar path (it has no
# packed kernels), Q4_0's lane copy where AVX-512 VNNI reads it
EMBER_CPU=scalar "$E" info --cpu >"$T/os" 2>&1
if grep -q "^repack: *none$" "$T/os" && grep -q "^repack:" "$T/o"; then pass cpu_repack_layouts_listed; else fail cpu_repack_layouts_listed "$(cat "$T/os" "$T/o")"; fi
if command -v python3 >/dev/null 2>&1; then
  if "$E" info --cpu --json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if isinstance(d["repack"], dict) and d["path"] else 1)'; then
    pass cpu_json_repack
  else
    fail cpu_json_repack "$("$E" info --cpu --json)"
  fi
fi
if [ "$path" = avx512 ] && grep -q "avx512_vnni" "$T/o" && ! grep -q "^missing:.*avx512_vnni" "$T/o"; then
  if grep -q "^repack:.*Q4_0 (q4_0-lanes16)" "$T/o"; then pass cpu_q4_0_lane_copy_on_vnni; else fail cpu_q4_0_lane_copy_on_vnni "$(cat "$T/o")"; fi
fi

if ! grep -q "avx512_vnni" "$T/o" || grep -q "^missing:.* avx512f" "$T/o" || [ "$path" = scalar ] || [ "$path" = avx2 ]; then
  echo "SKIP cpu_masked_paths: no AVX-512 here (path $path)"
  exit 0
fi
EMBER_CPU_DISABLE=avx512_bf16,avx512_vnni "$E" info --cpu >"$T/o3" 2>"$T/e3"
if grep -q "^path: *avx512$" "$T/o3" && grep -q "^missing:.*avx512_vnni.*avx512_bf16" "$T/o3" && [ ! -s "$T/e3" ]; then
  pass cpu_disable_keeps_avx512_path
else
  fail cpu_disable_keeps_avx512_path "$(cat "$T/o3" "$T/e3")"
fi

if [ -n "$S" ] && [ -f "$S/golden/synth-v512-BF16.jsonl" ] && command -v python3 >/dev/null 2>&1; then
  for mask in avx512_bf16 avx512_vnni,avx512_bf16; do
    if EMBER_CPU_DISABLE=$mask python3 - "$E" "$S" <<'PY'
import json, subprocess, sys
exe, shared = sys.argv[1], sys.argv[2]
bad = []
for name, idx in (("synth-v512-BF16", 1), ("synth-v512-F16", 2), ("synth-v512-Q8_0", 3), ("synth-v512-Q4_0", 4),
                  ("synth-v512-Q4_K_M", 5), ("synth-v512-Q5_1", 6), ("kjv-5m-q8_0", 0)):
    c = json.loads(open(f"{shared}/golden/{name}.jsonl").readlines()[idx])
    r = subprocess.run([exe, "run", "-m", f"{shared}/models/{c['model']}", "-p", c["prompt"], "-n", str(c["n_predict"]),
                        "--temp", "0", "--json"], capture_output=True, text=True)
    d = json.loads(r.stdout)
    if d["prompt_tokens"] != c["prompt_tokens"] or d["tokens"] != c["tokens"]:
        bad.append(name)
if bad: print("differ:", bad, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
    then pass "cpu_masked_golden_$mask"; else fail "cpu_masked_golden_$mask" "EMBER_CPU_DISABLE=$mask: ember run differs from ../shared/golden"; fi
  done
else
  echo "SKIP cpu_masked_golden: ../shared not found"
fi
