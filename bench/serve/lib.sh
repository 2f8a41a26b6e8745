# Helpers for bench/serve_load.sh and tests/e2e/serve_load.sh (sourced).

# The background processes (servers, the mixer) a script started; stop_pids ends them all.
pids=()
stop_pids() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}

# start_server LOG ARGS...: runs `$LATENTKIT_BIN serve ARGS --port 0` in the background and
# waits (30 s at most) for it to print its address; sets SERVER_PID and SERVER_PORT.
start_server() {
  local log="$1"
  shift
  "$LATENTKIT_BIN" serve "$@" --port 0 >"$log" 2>&1 &
  SERVER_PID=$!
  SERVER_PORT=
  for _ in $(seq 300); do
    SERVER_PORT=$(sed -n 's|.* at http://[^ ]*:\([0-9][0-9]*\)/.*|\1|p' "$log" | head -n 1)
    [ -n "$SERVER_PORT" ] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "the server exited before listening: latentkit serve $*; its output:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the server did not listen within 30 s: latentkit serve $*; its output:" >&2
  cat "$log" >&2
  return 1
}

# rss_kb PID: the process's resident memory (VmRSS) in KiB.
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }

# wrk_json LUA_SCRIPT URL CONNECTIONS SECONDS [ENV...]: runs wrk (1 thread: latentkit
# has the other core) and prints the JSON line bench/serve/report.lua writes.
wrk_json() {
  local script="$1" url="$2" c="$3" s="$4"
  shift 4
  env LUA_DIR="$SERVE_BENCH_DIR" "$@" wrk -t 1 -c "$c" -d "${s}s" --timeout 10s -s "$SERVE_BENCH_DIR/$script" "$url" |
    sed -n 's/^WRK_JSON //p'
}

# json_get JSON EXPR: a value from a JSON object, EXPR in JavaScript over `j`.
json_get() { node -e 'const j = JSON.parse(process.argv[1]); const v = eval(process.argv[2]); console.log(typeof v === "object" ? JSON.stringify(v) : v)' "$1" "$2"; }

SERVE_BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
