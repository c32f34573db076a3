#!/bin/sh
# Chat templates rendered by ember against Python's jinja2 with Hugging
# Face's settings, on generated templates (tests/chat_vs_jinja2.py); skipped
# where python3 has no jinja2.
. "$(dirname "$0")/lib_cli.sh"
H="${BUILD:-build}/tests/test_chat_template"
if ! python3 -c 'import jinja2' 2>/dev/null; then echo "SKIP cli_chat_jinja2: python3 has no jinja2"; exit 0; fi
if [ ! -x "$H" ]; then echo "FAIL chat_vs_jinja2 (no $H)"; exit 0; fi
python3 "$(dirname "$0")/chat_vs_jinja2.py" "$H" 1 1500
python3 "$(dirname "$0")/chat_vs_jinja2.py" "$H" 2 1500
