# Sourced by the tests/cli_*.sh scripts: the binary under test, the shared
# data directory, a scratch directory removed on exit, and PASS/FAIL lines
# (tests/run.sh counts them; details go to stderr).
E=${EMBER:-./ember}
S=${EMBER_SHARED:-../shared}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; echo "  $2" >&2; }
