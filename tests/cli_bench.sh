#!/bin/sh
# ember bench from the CLI: the table and --json carry every test asked for
# (prompt, generation, batched streams) with positive speeds; bad flags give
# one line + exit 2. Speeds are not judged here (benchmarks, not tests).
. "$(dirname "$0")/lib_cli.sh"
M="$S/models/stories260K.gguf"
if [ ! -f "$M" ]; then echo "SKIP cli_bench: ../shared not found"; exit 0; fi
if "$E" bench -m "$M" -p 16 -n 4 --streams 1,3 -r 2 -t 2 --json >"$T/j" 2>"$T/e" &&
   python3 - "$T/j" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
tests = {r["test"]: r for r in rows}
assert set(tests) == {"pp16", "tg4", "tg4x3"}, tests.keys()
for r in rows:
    assert r["tokens_per_s"] > 0 and len(r["runs"]) == 2 and r["threads"] == 2, r
    assert 0 < r["share_of_limit"] and r["limit"] > 0, r
assert tests["tg4x3"]["streams"] == 3 and tests["tg4"]["streams"] == 1
PY
then pass bench_json_tests; else fail bench_json_tests "$(cat "$T/e" "$T/j")"; fi
if "$E" bench -m "$M" -p 8 -n 2 --streams 2 -r 1 >"$T/o" 2>/dev/null && grep -q '| *tg2x2 |' "$T/o" && grep -q '| *pp8 |' "$T/o" &&
   grep -q 'read bandwidth' "$T/o"; then pass bench_table; else fail bench_table "$(cat "$T/o")"; fi
Q="$S/models/synth-v512-Q8_0.gguf"
if "$E" bench -m "$Q" -p 16 -n 2 --streams 2 -r 1 --no-repack >"$T/o" 2>/dev/null && grep -q '| *pp16 |' "$T/o" &&
   grep -q '| *tg2x2 |' "$T/o"; then pass bench_no_repack; else fail bench_no_repack "$(cat "$T/o")"; fi
for bad in "--streams 0" "--streams 1," "--streams x" "--streams 65" "-p -1" "-r 0"; do
  # shellcheck disable=SC2086
  "$E" bench -m "$M" $bad >/dev/null 2>"$T/e"; rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ]; then pass "bench_rejects ${bad}"; else fail "bench_rejects ${bad}" "rc=$rc $(cat "$T/e")"; fi
done
# speculative tests without a target model (--mem lets the run have no -m): crashed before
for bad in "--mem --lookup 2 -n 8 -r 1" "--mem --draft $M -n 8 -r 1"; do
  # shellcheck disable=SC2086
  "$E" bench $bad >/dev/null 2>"$T/e"; rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q 'need a target model' "$T/e"; then pass "bench_spec_needs_model ${bad%% -n*}"
  else fail "bench_spec_needs_model ${bad%% -n*}" "rc=$rc $(cat "$T/e")"; fi
done
"$E" bench -m "$T/missing.gguf" -p 8 -n 0 -r 1 >/dev/null 2>"$T/e"; rc=$?
if [ $rc -ne 0 ] && grep -q 'ember bench' "$T/e"; then pass bench_missing_model; else fail bench_missing_model "rc=$rc $(cat "$T/e")"; fi
