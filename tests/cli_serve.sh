#!/bin/sh
# ember serve end to end: tests/server/test_server.py (stdlib HTTP client)
# and the official openai npm client (tests/server/openai_client.mjs).
S=${EMBER_SHARED:-../shared}
EMBER=${EMBER:-./ember}
if ! "$EMBER" serve --help >/dev/null 2>&1; then echo "SKIP serve: not part of this build (needs libmicrohttpd-dev, libcjson-dev)"; exit 0; fi
if [ ! -f "$S/models/stories260K.gguf" ]; then echo "SKIP serve: $S/models not found"; exit 0; fi
if ! command -v python3 >/dev/null 2>&1; then echo "SKIP serve: python3 not found"; exit 0; fi
python3 tests/server/test_server.py "$EMBER" "$S"
rc=$?
if [ -d tests/server/node_modules/openai ] && command -v node >/dev/null 2>&1; then
  node tests/server/openai_client.mjs "$EMBER" "$S" || rc=1
else
  echo "SKIP openai_npm_client: run 'npm install' in tests/server (done by .ci/run)"
fi
exit $rc
