#!/usr/bin/env bash
# Runs the official MCP conformance suite's server scenarios against the `mcp_server`
# example over HTTP; out-of-scope scenarios are listed, with reasons, in
# conformance-expected-failures.yml, and partly-passed ones are checked check by check.
# Needs `.ci/mcp-clients.sh` first. Exit 0 only when everything in scope passes.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${TOOLCALL_CACHE:-$HOME/.cache/toolcall}"
if [ -f "$cache/mcp-offline" ]; then
    echo "!!! conformance SKIPPED: $(cat "$cache/mcp-offline") !!!"
    exit 0
fi
export PATH="$cache/npm/node_modules/.bin:$PATH"

cargo build --quiet --example mcp_server --all-features
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
results=$(mktemp -d)
KUBECONFIG=/nonexistent target/debug/examples/mcp_server http "127.0.0.1:$port" 2> "$results/server.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$results"' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

status=0
conformance server --url "http://127.0.0.1:$port/mcp" --suite all \
    --expected-failures tests/mcp/conformance-expected-failures.yml \
    -o "$results" > "$results/suite.log" 2>&1 || status=$?
grep -E '^[✓✗]' "$results/suite.log" || true
tail -n 3 "$results/suite.log"
python3 tests/mcp/conformance_check.py "$results" || status=1
if [ "$status" != 0 ]; then
    echo "conformance: FAILED (see above)"
    cat "$results/suite.log" | tail -n 60
fi
exit "$status"
