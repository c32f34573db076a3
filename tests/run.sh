#!/bin/sh
# Runs every test binary and every tests/cli_*.sh; prints the totals line.
BUILD=${BUILD:-build}
EMBER=${EMBER:-./ember}
export EMBER
pass=0; fail=0; skip=0
log=$(mktemp)
for t in "$BUILD"/tests/test_* tests/cli_*.sh; do
  [ -e "$t" ] || continue
  case "$t" in *.d) continue ;; esac
  t0=$(date +%s)
  case "$t" in
    *.sh) sh "$t" >"$log" 2>"$log.err" ;;
    *) "$t" >"$log" 2>"$log.err" ;;
  esac
  rc=$?
  echo "== $t ($(( $(date +%s) - t0 ))s)"
  cat "$log"
  grep -q '^FAIL' "$log" && sed 's/^/    /' "$log.err" | tail -40
  p=$(grep -c '^PASS' "$log"); f=$(grep -c '^FAIL' "$log"); s=$(grep -c '^SKIP' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $t exited with status $rc"; sed 's/^/    /' "$log.err" | tail -20; f=1
  fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
rm -f "$log" "$log.err"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
