#!/usr/bin/env bash
# bench/spike.sh - the login spike of issue 4: CLIENTS clients arrive within WINDOW seconds and log
# in against an origin that takes about 500 logins/s, three ways in one run, one after another:
#   direct  straight to the origin simulator
#   nginx   nginx limit_req (rate=500r/s burst=50, one shared key) in front of the origin
#   pforte  pforte with [waiting_room.login] admit_rate 500, burst ADMIT_BURST (10), refresh 10s, jitter 0.5
# (SCENARIOS may add pforte-page: the same room, clients in page mode following the page's script
# (to the millisecond), and pforte-whole: JSON clients that wait only the whole seconds of
# Retry-After, like a client without script or a meta refresh.)
# Then the waiting page's own throughput: h2load over h2c against a room that admits almost
# nobody (every request gets the page) next to a 4 KiB static file served from pforte's cache (a
# cached hit), PAGE_RUNS runs each, interleaved, medians.
#
# Origin model: pforte-origin --login-capacity ORIGIN_CAPACITY --login-service-ms ORIGIN_SERVICE_MS
# --login-overload 503. Throughput ceiling = capacity / service time: 60 / 0.1 s = 600 logins/s,
# i.e. a backend sized for 500 logins/s with the headroom the issue's target grants the edge
# (admit_rate x 1.1 + burst = 600 in any second); beyond 60 logins in flight it answers 503 +
# Retry-After: 1 at once (a backend that "falls over" sheds load instead of queueing forever).
#
# Cores (2 on the dev VM): the generator gets core GEN_CPU (1) to itself, because 50,000 clients
# are the heaviest part; the proxy and the origin share core SERVER_CPU (0) (the origin does at
# most ~600 logins/s plus the rejections). In `direct` the origin is alone on core 0.
#
# Run from the repo root, as root (raises the fd limit; nginx from Debian's nginx-light):
#   bench/spike.sh                                  # 3 x up to 120 s + page test: ~7-8 minutes
#   CLIENTS=5000 LIMIT=30 bench/spike.sh            # quick look
#   SCENARIOS="pforte" SKIP_BUILD=1 bench/spike.sh  # one scenario, existing build
# Knobs: CLIENTS (50000) WINDOW (1) LIMIT (120) SKIP_BUILD (0) SCENARIOS ("direct nginx pforte")
#   PAGE_RUNS (3, 0 = skip the h2load test) H2_DURATION (3) ORIGIN_CAPACITY (60)
#   ORIGIN_SERVICE_MS (100) SOURCES (64 loopback source addresses) SERVER_CPU (0) GEN_CPU (1)
#   PORT_BASE (18500) BUILD_DIR (build-bench) RUN_DIR (mktemp -d) MAX_TOTAL_S (1800)
#   ORIGIN_NICE (0; e.g. -10 gives the origin priority on the core it shares with the proxy, as if
#   it had a machine of its own)
#   ABANDON (0: the share of clients who close the tab after their first answer; the "in" share
#   and the fairness figures are then of those who stayed)
# Everything listens on 127.0.0.1; every process started here is stopped by its PID.
set -u -o pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"     # BENCH, ROOT, T_START, log, stop_pid, watchdog

CLIENTS=${CLIENTS:-50000}
WINDOW=${WINDOW:-1}
LIMIT=${LIMIT:-120}
SKIP_BUILD=${SKIP_BUILD:-0}
SCENARIOS=${SCENARIOS:-"direct nginx pforte"}
PAGE_RUNS=${PAGE_RUNS:-3}
H2_DURATION=${H2_DURATION:-3}
ORIGIN_CAPACITY=${ORIGIN_CAPACITY:-60}
ADMIT_BURST=${ADMIT_BURST:-10}    # what the 60-in-flight origin has left after 500/s x 100 ms
ORIGIN_SERVICE_MS=${ORIGIN_SERVICE_MS:-100}
SOURCES=${SOURCES:-64}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
PORT_BASE=${PORT_BASE:-18500}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
RUN_DIR=${RUN_DIR:-}
MAX_TOTAL_S=${MAX_TOTAL_S:-1800}
ABANDON=${ABANDON:-0}
ORIGIN_NICE=${ORIGIN_NICE:-0}

ORIGIN_PORT=$((PORT_BASE + 80))
NGINX_PORT=$((PORT_BASE + 11))
PFORTE_PORT=$((PORT_BASE + 1))
ADMIN_PORT=$((PORT_BASE + 2))

start_watchdog

cd "$ROOT" || exit 1
BUILD_DIR=$(realpath -m "$BUILD_DIR")
ulimit -n 400000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
for c in nginx h2load curl taskset; do
    command -v "$c" >/dev/null || { log "missing $c (Debian: nginx-light, nghttp2-client, curl, util-linux)"; exit 1; }
done

if [ "$SKIP_BUILD" != 1 ]; then
    log "building $BUILD_DIR (Release, no tests)"
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPFORTE_TESTS=OFF >/dev/null &&
        cmake --build "$BUILD_DIR" -j2 --target pforte pforte-origin pforte-spike >/dev/null ||
        { log "build failed"; exit 1; }
fi
for b in pforte pforte-origin pforte-spike; do
    [ -x "$BUILD_DIR/$b" ] || { log "no $BUILD_DIR/$b (build first or unset SKIP_BUILD)"; exit 1; }
done

RUN=${RUN_DIR:-$(mktemp -d /tmp/pforte-spike.XXXXXX)}
mkdir -p "$RUN/logs" "$RUN/raw"
log "run dir: $RUN"
openssl rand -hex 32 >"$RUN/wr.key"

cat >"$RUN/pforte.toml" <<EOF
[global]
workers = 1
access_log = "off"
error_log = "$RUN/logs/pforte-error.log"
log_level = "warn"
[limits]
max_connections = 200000
[[listener]]
address = "127.0.0.1:$PFORTE_PORT"
[admin]
address = "127.0.0.1:$ADMIN_PORT"
[upstream.origin]
servers = ["127.0.0.1:$ORIGIN_PORT"]
response_timeout = "30s"
# The page test's comparison: a static file served from pforte's cache (max-age=3600 at the origin).
[cache]
memory = "64MiB"
[[route]]
path_prefix = "/static/"
upstream = "origin"
cache = { enabled = true }
[[route]]
path_prefix = "/login"
upstream = "origin"
waiting_room = "login"
[[route]]
path_prefix = "/queue"
upstream = "origin"
waiting_room = "closed"
[[route]]
path_prefix = "/"
upstream = "origin"
[waiting_room.login]
admit_rate = 500
admit_burst = $ADMIT_BURST
refresh = "10s"
jitter = 0.5
secret_file = "$RUN/wr.key"
# Lets almost nobody in: every request of the page test gets the waiting page.
[waiting_room.closed]
admit_rate = 0.001
admit_burst = 1
refresh = "10s"
secret_file = "$RUN/wr.key"
EOF

cat >"$RUN/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $RUN/logs/nginx.pid;
error_log $RUN/logs/nginx-error.log error;
worker_rlimit_nofile $(ulimit -n);
events { worker_connections $(( $(ulimit -n) - 100 )); }
http {
    access_log off;
    # One key for everybody: thousands of pupils share a school's NAT address, so a per-IP key
    # would either let a whole school through as one client or (here, on loopback) be meaningless.
    limit_req_zone \$server_name zone=login:1m rate=500r/s;
    limit_req_status 503;
    limit_req_log_level warn;       # below error_log's level: no line per rejection
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        server_name spike;
        location /login {
            limit_req zone=login burst=50;
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

"$BUILD_DIR/pforte" -t -c "$RUN/pforte.toml" || { log "pforte config check failed"; exit 1; }

ORIGIN_PID=""
start_origin() {
    nice -n "$ORIGIN_NICE" taskset -c "$SERVER_CPU" "$BUILD_DIR/pforte-origin" --listen "127.0.0.1:$ORIGIN_PORT" --threads 1 --quiet \
        --login-capacity "$ORIGIN_CAPACITY" --login-service-ms "$ORIGIN_SERVICE_MS" --login-overload 503 \
        >"$RUN/logs/origin.$1.out" 2>&1 &
    ORIGIN_PID=$!; STARTED+=("$ORIGIN_PID")
    wait_ports "$ORIGIN_PID" "$ORIGIN_PORT" || { log "origin did not start"; return 1; }
}
PROXY_PID=""
start_proxy() {     # start_proxy nginx|pforte TAG
    case $1 in
        nginx)  taskset -c "$SERVER_CPU" nginx -p "$RUN/" -e "$RUN/logs/nginx-error.log" -c "$RUN/nginx.conf" \
                    >"$RUN/logs/nginx.$2.out" 2>&1 & ;;
        pforte) (cd "$RUN" && exec taskset -c "$SERVER_CPU" "$BUILD_DIR/pforte" -c "$RUN/pforte.toml") \
                    >"$RUN/logs/pforte.$2.out" 2>&1 & ;;
    esac
    PROXY_PID=$!; STARTED+=("$PROXY_PID")
    local port=$PFORTE_PORT; [ "$1" = nginx ] && port=$NGINX_PORT
    wait_ports "$PROXY_PID" "$port" || { log "$1 did not start (see $RUN/logs/$1.$2.out)"; return 1; }
}
stop_started() { local p; for p in "$@"; do [ -n "$p" ] && stop_pid "$p"; done; }

declare -A RES=() LOAD=()
run_scenario() {    # run_scenario NAME
    local name=$1 port mode=json whole="" raw="$RUN/raw/$1.txt"
    LOAD[$name]=$(cut -d' ' -f1-3 /proc/loadavg)
    start_origin "$name" || return
    case $name in
        direct) port=$ORIGIN_PORT ;;
        nginx) start_proxy nginx "$name" || { stop_started "$ORIGIN_PID"; return; }; port=$NGINX_PORT ;;
        pforte|pforte-page|pforte-whole)
            start_proxy pforte "$name" || { stop_started "$ORIGIN_PID"; return; }; port=$PFORTE_PORT
            [ "$name" = pforte-page ] && mode=page
            [ "$name" = pforte-whole ] && whole=--whole-seconds ;;
    esac
    log "$name: $CLIENTS clients within ${WINDOW}s, limit ${LIMIT}s, $mode mode (load before: ${LOAD[$name]})"
    local tracer=""
    if [[ $name == pforte* ]]; then
        # The room's counters once a second (issued, called, admitted, queue...), for the drain rate.
        ( while :; do
              printf '%s ' "$(date +%s.%N)"
              curl -s -m 1 "http://127.0.0.1:$ADMIN_PORT/waiting-room/login" || echo
              sleep 1
          done ) >"$RUN/raw/$name.room.jsonl" 2>/dev/null &
        tracer=$!; STARTED+=("$tracer")
    fi
    echo "# taskset -c $GEN_CPU $BUILD_DIR/pforte-spike --target 127.0.0.1:$port --stats 127.0.0.1:$ORIGIN_PORT" \
        "--clients $CLIENTS --window $WINDOW --limit $LIMIT --mode $mode --sources $SOURCES --label $name --abandon $ABANDON $whole" >"$raw"
    timeout $(( ${LIMIT%.*} + 120 )) taskset -c "$GEN_CPU" "$BUILD_DIR/pforte-spike" --target "127.0.0.1:$port" \
        --stats "127.0.0.1:$ORIGIN_PORT" --clients "$CLIENTS" --window "$WINDOW" --limit "$LIMIT" \
        --mode "$mode" --sources "$SOURCES" --label "$name" --abandon "$ABANDON" $whole >>"$raw" 2>&1
    echo "# exit $?; load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw"
    RES[$name]=$(grep '^RESULT ' "$raw" | tail -1)
    grep -v '^RESULT ' "$raw" | sed 's/^/    /' >&2
    if [ -n "$PROXY_PID" ]; then kill -0 "$PROXY_PID" 2>/dev/null || log "$name: PROXY DIED"; fi
    stop_started "$tracer" "$PROXY_PID" "$ORIGIN_PID"; PROXY_PID=""; ORIGIN_PID=""
    sleep 2
}

for s in $SCENARIOS; do run_scenario "$s"; done

# ---- the waiting page's throughput next to a cached static file (h2c, prior knowledge)
declare -A RPS=()
if [ "$PAGE_RUNS" -gt 0 ]; then
    start_origin page && start_proxy pforte page && {
        curl -s -o /dev/null -w '  check /queue (first request uses the burst of 1): %{http_code} %{size_download} B\n' "http://127.0.0.1:$PFORTE_PORT/queue" >&2
        curl -s -o /dev/null -w '  check /static/app.css: %{http_code} %{size_download} B\n' "http://127.0.0.1:$PFORTE_PORT/static/app.css" >&2
        curl -s -o /dev/null -D - "http://127.0.0.1:$PFORTE_PORT/static/app.css" | grep -i '^x-cache\|^age' | sed 's/^/  second request: /' >&2
        LOAD[page]=$(cut -d' ' -f1-3 /proc/loadavg)
        for r in $(seq 1 "$PAGE_RUNS"); do
            for u in /queue /static/app.css; do
                f="$RUN/raw/h2load${u//\//_}.run$r.txt"
                timeout $(( H2_DURATION + 30 )) taskset -c "$GEN_CPU" h2load -D "$H2_DURATION" --warm-up-time 1 \
                    -c 50 -m 10 "http://127.0.0.1:$PFORTE_PORT$u" >"$f" 2>&1
                v=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$f")
                st=$(awk '/^status codes:/ {print $3, $5, $7, $9}' "$f" | tr -d ',')
                log "  h2load $u run $r: ${v:-?} req/s (2xx 3xx 4xx 5xx: $st)"
                RPS[$u]="${RPS[$u]:-} ${v:-0}"
            done
        done
    }
    stop_started "$PROXY_PID" "$ORIGIN_PID"; PROXY_PID=""; ORIGIN_PID=""
fi

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{if (NR==0) print "-"; else printf "%.0f", (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

{
    echo
    echo "Spike: $CLIENTS clients within ${WINDOW}s, limit ${LIMIT}s; origin capacity $ORIGIN_CAPACITY x ${ORIGIN_SERVICE_MS} ms;" \
        "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
    echo
    echo "| scenario | load avg before | in within limit | p50 s | p99 s | max s | 5xx seen | origin rejected | origin peak/s | overtaken by >=1 s later: max / total / clients | same, >=0.1 s later | requests | gen. lag / fd wait s |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for s in $SCENARIOS; do
        r=${RES[$s]:-}
        if [ -z "$r" ]; then echo "| $s | ${LOAD[$s]:-} | (no result) |||||||||"; continue; fi
        echo "| $s | ${LOAD[$s]} | $(field "$r" in) ($(field "$r" in_pct) %, $(field "$r" left) left) | $(field "$r" p50) | $(field "$r" p99) | $(field "$r" max)" \
             "| $(field "$r" err5xx) | $(field "$r" origin_rejected) | $(field "$r" origin_peak)" \
             "| $(field "$r" overtakes_max) / $(field "$r" overtakes_total) / $(field "$r" overtaken)" \
             "| $(field "$r" ot100_max) / $(field "$r" ot100_total) / $(field "$r" ot100_clients) | $(field "$r" requests) | $(field "$r" lag) / $(field "$r" fdwait) |"
    done
    if [ "$PAGE_RUNS" -gt 0 ]; then
        echo
        echo "h2load -D $H2_DURATION --warm-up-time 1 -c 50 -m 10 (h2c), median of $PAGE_RUNS (load avg before: ${LOAD[page]:-})"
        echo
        echo "| URL | req/s (median) | runs |"
        echo "|---|---|---|"
        for u in /queue /static/app.css; do echo "| $u | $(echo "${RPS[$u]:-}" | median) |${RPS[$u]:-} |"; done
    fi
} | tee "$RUN/summary.md"
