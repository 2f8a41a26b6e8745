#!/usr/bin/env bash
# latentkit serve: refused on a non-loopback host without --token; with a token, 401 without
# it and 200 with it (bearer, or the cookie a ?token= link sets); then a short
# bench/serve_load.sh: wrk at 1, 8 and 64 connections while bad requests, oversize bodies and
# slowloris sockets hit the editor and a static folder. Asserts: no crash, every bad request
# answered 4xx, a good request answered within 1 s while the slowloris sockets are held.
# Needs wrk, curl and node (scripts/setup). About 30 s.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN="$ROOT/models/emoji-cgan"
AXES="$ROOT/models/emoji-axes.json"
LATENTKIT_BIN="$LATENTKIT"
source "$ROOT/bench/serve/lib.sh"
for tool in wrk curl node; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found; install it with: scripts/setup" >&2; exit 1; }
done

stop_all() {
  stop_pids
  rm -rf "$WORK"
}
trap stop_all EXIT
mkdir -p "$WORK/app"
printf '<!doctype html><title>app</title>\n' >"$WORK/app/index.html"
printf 'console.log(1)\n' >"$WORK/app/app.js"

# --- a non-loopback host needs a token ---------------------------------------------------
expect_error 2 "--host 0.0.0.0 is not a loopback address" -- "$LATENTKIT" serve --run "$RUN" --axes "$AXES" --host 0.0.0.0
expect_error 2 "--host 0.0.0.0 is not a loopback address" -- "$LATENTKIT" serve --app "$WORK/app" --host 0.0.0.0
expect_error 2 "--host :: is not a loopback address" -- "$LATENTKIT" serve --app "$WORK/app" --host ::
expect_error 2 "--token must be 16 to 256 characters" -- "$LATENTKIT" serve --app "$WORK/app" --token short
err=$("$LATENTKIT" serve --app "$WORK/app" --host 0.0.0.0 2>&1 >/dev/null)
[ "$(wc -l <<<"$err")" = 1 ] || fail "the refusal is not one line: $err"

# --- with a token (from the environment): 401 without it, 200 with it ----------------------
token=e2e-0123456789abcdef
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
check_code() {  # WANT WHAT CURL_ARGS...
  local want="$1" what="$2" got
  shift 2
  got=$(code "$@")
  if [ "$got" = "$want" ]; then echo "ok: $what -> $got"; else fail "$what: expected $want, got $got"; fi
}
LATENTKIT_SERVE_TOKEN=$token start_server "$WORK/tok-static.log" --app "$WORK/app" --host 0.0.0.0 || exit 1
pids+=("$SERVER_PID")
p=$SERVER_PORT
grep -qF "at http://0.0.0.0:$p/?token=$token " "$WORK/tok-static.log" || fail "the address with the token was not printed: $(cat "$WORK/tok-static.log")"
check_code 401 "static, no token" "http://127.0.0.1:$p/"
check_code 401 "static, wrong token" -H "Authorization: Bearer wrong-0123456789abcdef" "http://127.0.0.1:$p/app.js"
check_code 200 "static, bearer token" -H "Authorization: Bearer $token" "http://127.0.0.1:$p/app.js"
check_code 303 "static, ?token= link" "http://127.0.0.1:$p/?token=$token"
check_code 200 "static, ?token= link followed with its cookie" -L -c "$WORK/jar" -b "$WORK/jar" "http://127.0.0.1:$p/?token=$token"
check_code 200 "static, the cookie alone" -b "$WORK/jar" "http://127.0.0.1:$p/app.js"
body=$(curl -s --max-time 5 "http://127.0.0.1:$p/")
grep -q '"error":"this server needs its token' <<<"$body" || fail "401 without the JSON error: $body"

start_server "$WORK/tok-editor.log" --run "$RUN" --axes "$AXES" --host 0.0.0.0 --token "$token" --threads 1 || exit 1
pids+=("$SERVER_PID")
p=$SERVER_PORT
check_code 401 "editor page, no token" "http://127.0.0.1:$p/"
check_code 401 "editor API, no token" -X POST -H 'Content-Type: application/json' -d '{"seed": 1}' "http://127.0.0.1:$p/api/v1/generate"
check_code 200 "editor API, bearer token" -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{"seed": 1}' "http://127.0.0.1:$p/api/v1/generate"
check_code 200 "editor page via the ?token= link" -L -c "$WORK/jar2" -b "$WORK/jar2" "http://127.0.0.1:$p/?token=$token"
check_code 200 "editor API with the page's cookie" -b "$WORK/jar2" "http://127.0.0.1:$p/api/v1/axes"
for q in "${pids[@]}"; do kill "$q"; wait "$q" 2>/dev/null; done
pids=()

# --- load with hostile traffic -------------------------------------------------------------
start_server "$WORK/editor.log" --run "$RUN" --axes "$AXES" --threads 1 || exit 1
editor_pid=$SERVER_PID editor_port=$SERVER_PORT
pids+=("$editor_pid")
start_server "$WORK/static.log" --app "$WORK/app" --threads 1 || exit 1
static_pid=$SERVER_PID static_port=$SERVER_PORT
pids+=("$static_pid")
rss_before=$(rss_kb "$editor_pid")
# 48 slowloris sockets per server: six times httplib's own pool of 8 threads.
node "$ROOT/bench/serve/mixer.mjs" 13 48 "$editor_port" "$static_port" >"$WORK/mixer.json" &
mixer_pid=$!
pids+=("$mixer_pid")
sleep 1.5
for c in 1 8 64; do
  for target in "paths.lua http://127.0.0.1:$static_port PATHS=/,/app.js" "paths.lua http://127.0.0.1:$editor_port PATHS=/,/editor.js" \
    "generate.lua http://127.0.0.1:$editor_port AXIS=heart"; do
    read -r script url env <<<"$target"
    json=$(wrk_json "$script" "$url" "$c" 1 "$env")
    if [ -z "$json" ]; then fail "wrk gave no result: $script $url -c $c"; continue; fi
    echo "wrk -c $c $script $url: $json"
    [ "$(json_get "$json" 'j.requests > 0 && j.non_2xx === 0')" = true ] || fail "good requests failed under load: $script -c $c: $json"
  done
done
wait "$mixer_pid"
mixer=$(cat "$WORK/mixer.json")
echo "mixer: $mixer"
[ "$(json_get "$mixer" 'j.bad.sent > 50')" = true ] || fail "the mixer sent too few bad requests: $mixer"
[ "$(json_get "$mixer" 'j.bad.failed')" = 0 ] || fail "bad requests without a 4xx: $(json_get "$mixer" 'j.bad.failures')"
[ "$(json_get "$mixer" 'Object.keys(j.bad.by_status).every((s) => s >= 400 && s < 500)')" = true ] || fail "statuses other than 4xx: $mixer"
[ "$(json_get "$mixer" 'j.slowloris.dropped')" = 0 ] || fail "slowloris connections closed without an answer: $mixer"
[ "$(json_get "$mixer" 'j.slowloris.held_at_end >= 90')" = true ] || fail "the slowloris sockets were not held: $mixer"
[ "$(json_get "$mixer" 'j.probe.n >= 20 && j.probe.failed === 0')" = true ] || fail "good requests failed while slowloris sockets were held: $mixer"
[ "$(json_get "$mixer" 'j.probe.max_ms < 1000')" = true ] || fail "a good request waited over 1 s while slowloris sockets were held: $mixer"
for pair in "$editor_pid:$editor_port:/api/v1/model" "$static_pid:$static_port:/"; do
  IFS=: read -r pid port path <<<"$pair"
  kill -0 "$pid" 2>/dev/null || fail "the server on port $port crashed"
  check_code 200 "after the load, port $port" "http://127.0.0.1:$port$path"
done
echo "editor VmRSS: $((rss_before / 1024)) MiB before, $(($(rss_kb "$editor_pid" || echo 0) / 1024)) MiB after"
finish
