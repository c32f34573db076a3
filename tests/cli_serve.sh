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
# curl, as a user would: a streamed completion ends with [DONE]; bad JSON is a 400
if command -v curl >/dev/null 2>&1; then
  log=$(mktemp)
  "$EMBER" serve -m "$S/models/stories260K.gguf" --port 0 -t 2 2>"$log" &
  pid=$!
  port=
  for i in $(seq 100); do port=$(sed -n 's/.*listening on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$log"); [ -n "$port" ] && break; sleep 0.1; done
  out=$(curl -sN "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
        -d '{"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0, "stream": true}')
  last=$(printf '%s\n' "$out" | grep '^data: ' | tail -n 1)
  if [ "$last" = "data: [DONE]" ] && [ "$(printf '%s\n' "$out" | grep -c '^data: {')" -ge 1 ]; then echo "PASS curl_stream"; else echo "FAIL curl_stream"; echo "$out" >&2; rc=1; fi
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/chat/completions" -d '{"messages": [')
  if [ "$code" = 400 ]; then echo "PASS curl_bad_json_400"; else echo "FAIL curl_bad_json_400"; echo "status $code" >&2; rc=1; fi
  # a prompt longer than the context could hold at the vocabulary's longest token is refused before tokenizing
  big=$(mktemp)
  python3 -c 'import json; print(json.dumps({"prompt": "Once upon a time " * 200000, "max_tokens": 1}))' > "$big"
  resp=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' --data-binary "@$big")
  case "$resp" in
    *"more than this server's context"*context_length_exceeded*" 400") echo "PASS curl_long_prompt_400";;
    *) echo "FAIL curl_long_prompt_400"; printf '%.300s\n' "$resp" >&2; rc=1;;
  esac
  python3 -c 'import json; print(json.dumps({"messages": [{"role": "user", "content": ""}] * 100000}))' > "$big"
  resp=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' --data-binary "@$big")
  case "$resp" in
    *"100000 messages cannot fit"*context_length_exceeded*" 400") echo "PASS curl_many_messages_400";;
    *) echo "FAIL curl_many_messages_400"; printf '%.300s\n' "$resp" >&2; rc=1;;
  esac
  rm -f "$big"
  kill -TERM $pid; wait $pid
  if [ $? -eq 0 ]; then echo "PASS curl_server_exit"; else echo "FAIL curl_server_exit"; rc=1; fi
  rm -f "$log"
else
  echo "SKIP curl_checks: curl not found"
fi
if [ -d tests/server/node_modules/openai ] && command -v node >/dev/null 2>&1; then
  node tests/server/openai_client.mjs "$EMBER" "$S" || rc=1
else
  echo "SKIP openai_npm_client: run 'npm install' in tests/server (done by .ci/run)"
fi
exit $rc
