#!/usr/bin/env bash
# bench/isolation.sh - issue 5, "Measured": the home page with one blog include under load, the
# blog healthy, slow (SLOW_MS), hung and dead, through pforte (ESI, `fragments` with a
# FRAG_TIMEOUT_MS timeout, the blog on its own upstream) and through nginx (SSI, `ssi on`, the
# blog location with proxy_{connect,send,read}_timeout = FRAG_TIMEOUT_MS), in one invocation.
#
# Two pforte-origin processes (1 thread each, unpinned unless ORIGIN_CPU is set): "platform"
# serves the home page (/ with an <esi:include>, /ssi with an <!--# include -->), "blog" serves
# /news/latest and /news/fallback; the blog's mode is switched at runtime (POST /_origin/blog).
# Each proxy: 1 worker, access log off, h2c on 127.0.0.1, pinned to core SERVER_CPU (0); h2load
# pinned to core CLIENT_CPU (1). Configs: bench/conf/{pforte,nginx}-isolation.*.in.
# Per run, per case (healthy first: it gives pforte its last good copy of the blog), per proxy
# (order rotating), one h2load load of DURATION s after a WARMUP s warm-up:
#   closed: h2load -D 3 --warm-up-time 1 -c 10 -m 10 http://127.0.0.1:PORT/      (100 streams)
#   open:   the same with --rps=OPEN_RPS/CLIENTS (a fixed offered rate; see RESULTS.md for why)
# In the middle of each load one curl fetches the page and checks it: 200, the main content and
# the footer, no ESI/SSI markup, and which blog text it shows (blog / fallback / none).
# Reported per proxy x case: req/s, errors (non-2xx + failed), p50/p99/max latency (from
# h2load --log-file, warm-up excluded), the page check; the issue's targets for hung and dead.
#
# Run from the repo root, as root (installs missing Debian packages):
#   bench/isolation.sh                    # about 5 minutes
#   RUNS=1 LOADS=closed bench/isolation.sh  # quick look
# Prints the run folder (mktemp -d): configs, raw h2load outputs and logs, pforte /metrics after
# each pforte load, runs.tsv, summary.md. Everything is on 127.0.0.1; every load runs under
# `timeout`; every process started here is stopped by its PID on exit, INT/TERM and MAX_TOTAL_S.
set -u -o pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
T_START=$(date +%s)
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

# ---------------------------------------------------------------- knobs
PEERS=${PEERS:-nginx}               # "" = pforte only
CASES=${CASES:-"healthy slow hung dead"}
LOADS=${LOADS:-"closed open"}
RUNS=${RUNS:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CLIENTS=${CLIENTS:-10}
STREAMS=${STREAMS:-10}
OPEN_RPS=${OPEN_RPS:-400}           # offered req/s of the open loop, spread over CLIENTS
FRAG_TIMEOUT_MS=${FRAG_TIMEOUT_MS:-200}
SLOW_MS=${SLOW_MS:-3000}
SETTLE_S=${SETTLE_S:-2}             # pause after switching the blog (pforte's blog response_timeout)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ORIGIN_CPU=${ORIGIN_CPU:-}          # "" = origins unpinned
PORT_BASE=${PORT_BASE:-18500}       # pforte +1 (admin +2), nginx +11, platform +80, blog +81
MAX_TOTAL_S=${MAX_TOTAL_S:-900}
SKIP_INSTALL=${SKIP_INSTALL:-0}
SKIP_BUILD=${SKIP_BUILD:-0}         # 1 = use build-bench/ as it is
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
RUN_DIR=${RUN_DIR:-}

PLATFORM_PORT=$((PORT_BASE + 80))
BLOG_PORT=$((PORT_BASE + 81))
ADMIN_PORT=$((PORT_BASE + 2))
PID=()
declare -A PORT=([pforte]=$((PORT_BASE + 1)) [nginx]=$((PORT_BASE + 11)))
ORIGIN_PIDS=()

# ---------------------------------------------------------------- processes
render() {          # render TEMPLATE OUT
    sed -e "s#@RUN@#$RUN#g" -e "s#@PLATFORM_PORT@#$PLATFORM_PORT#g" -e "s#@BLOG_PORT@#$BLOG_PORT#g" \
        -e "s#@ADMIN_PORT@#$ADMIN_PORT#g" -e "s#@FRAG_TIMEOUT_MS@#$FRAG_TIMEOUT_MS#g" \
        -e "s#@H2C_PORT@#${PORT[$3]}#g" "$1" >"$2"
}

pin() { if [ -n "$1" ]; then echo taskset -c "$1"; fi; }

start_origin() {    # start_origin NAME PORT ARGS...
    local name=$1 port=$2; shift 2
    # shellcheck disable=SC2046
    $(pin "$ORIGIN_CPU") "$BUILD_DIR/pforte-origin" --listen "127.0.0.1:$port" --threads 1 --quiet "$@" \
        >"$RUN/logs/origin-$name.out" 2>&1 &
    STARTED+=("$!"); ORIGIN_PIDS+=("$!")
    wait_ports "$!" "$port" || { log "origin $name did not start"; cat "$RUN/logs/origin-$name.out" >&2; return 1; }
}

start_proxy() {     # start_proxy NAME -> PID[NAME]
    local name=$1 out="$RUN/logs/$1.out"
    case $name in
        pforte) (cd "$RUN" && exec taskset -c "$SERVER_CPU" "$BUILD_DIR/pforte" -c "$RUN/conf/pforte.toml") >"$out" 2>&1 & ;;
        nginx)  (cd "$RUN" && exec taskset -c "$SERVER_CPU" nginx -p "$RUN/" -e "$RUN/logs/nginx-error.log" -c "$RUN/conf/nginx.conf") >"$out" 2>&1 & ;;
        *) return 1 ;;
    esac
    PID[$name]=$!
    STARTED+=("$!")
    wait_ports "${PID[$name]}" "${PORT[$name]}" && return 0
    log "$name did not come up (see $out):"; tail -5 "$out" >&2
    stop_pid "${PID[$name]}"; PID[$name]=""
    return 1
}

set_blog() {        # set_blog MODE: the blog origin's behaviour from now on
    curl -s -m 5 -X POST "http://127.0.0.1:$BLOG_PORT/_origin/blog?mode=$1&delay_ms=$SLOW_MS" >/dev/null
}

blog_stats() {      # "requests connections" of the blog origin
    python3 "$BENCH/tools/ptstats.py" origin-stats "$(curl -s -m 5 "http://127.0.0.1:$BLOG_PORT/_origin/stats" 2>/dev/null)"
}

check_page() {      # check_page PROXY CASE OUTFILE: one page over h2c, judged -> OUTFILE "verdict ms"
    local name=$1 c=$2 out=$3 body="$3.body" r code secs v
    r=$(curl -s -m 10 --http2-prior-knowledge -o "$body" -w '%{http_code} %{time_total}' \
        "http://127.0.0.1:${PORT[$name]}/" 2>/dev/null)
    read -r code secs <<<"$r"
    if [ "$code" != 200 ]; then v="BAD:status-${code:-none}"
    elif ! grep -q 'Welcome back\.' "$body" || ! grep -q '<footer>pforte-origin</footer>' "$body" ||
         [ "$(tail -c 8 "$body")" != "</html>" ]; then v="BAD:main-content-missing"
    elif grep -Eqi '<\s*/?\s*esi:|<!--esi|<!--#' "$body"; then v="BAD:markup-leaked"
    elif grep -q '<ul class="news fallback">' "$body"; then v="main+fallback"
    elif grep -q '<ul class="news">' "$body"; then v="main+blog"
    else v="main,no-blog"; fi
    [ "$c" = healthy ] && [ "$v" != main+blog ] && v="BAD:$v(healthy-needs-blog)"
    echo "$v $(awk -v s="${secs:-0}" 'BEGIN{printf "%.0f", s*1000}')" >"$out"
}

run_one() {         # run_one LOAD PROXY CASE RUN#
    local load=$1 name=$2 c=$3 r=$4 tag raw lg rc limit s0 s1 b0 b1 w0 w1 cpu parsed chk flag=""
    tag="$name.$load.$c.run$r"; raw="$RUN/raw/$tag.txt"; lg="$RUN/raw/$tag.log"
    if [ -z "${PID[$name]:-}" ] || ! kill -0 "${PID[$name]}" 2>/dev/null; then
        log "  $tag: PROCESS NOT RUNNING, skipped"
        printf '%s\t%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\tNOT-RUNNING\t-\n' "$load" "$name" "$c" "$r" >>"$RUN/runs.tsv"
        return
    fi
    LOAD=(h2load -D "$DURATION" --warm-up-time "$WARMUP" -c "$CLIENTS" -m "$STREAMS")
    [ "$load" = open ] && LOAD+=(--rps="$(( OPEN_RPS / CLIENTS ))")
    LOAD+=(--log-file="$lg" "http://127.0.0.1:${PORT[$name]}/")
    limit=$(( DURATION + WARMUP + 30 ))
    echo "# ${LOAD[*]}" >"$raw"
    b0=$(blog_stats); s0=$(tree_cpu_ticks "${PID[$name]}"); w0=$(date +%s%N)
    timeout "$limit" taskset -c "$CLIENT_CPU" "${LOAD[@]}" >>"$raw" 2>&1 &
    LOADPID=$!
    # One page checked in the middle of the measured part of the load.
    ( sleep "$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN{print w + d / 2}')"
      check_page "$name" "$c" "$RUN/raw/$tag.check" ) &
    local chkpid=$!
    wait "$LOADPID"; rc=$?; LOADPID=""
    wait "$chkpid"
    w1=$(date +%s%N); s1=$(tree_cpu_ticks "${PID[$name]}"); b1=$(blog_stats)
    [ $rc != 0 ] && echo "# exit status $rc" >>"$raw"
    [ "$name" = pforte ] && curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/metrics" >"$RUN/raw/$tag.metrics" 2>/dev/null
    parsed=$(cd "$BENCH/tools" && python3 isostats.py row "$raw" "$lg")
    cpu=$(awk -v a="$s0" -v b="$s1" -v w0="$w0" -v w1="$w1" -v hz="$(getconf CLK_TCK)" \
          'BEGIN{w=(w1-w0)/1e9; printf "%.1f", (w>0)?100*(b-a)/hz/w:0}')
    chk=$(cat "$RUN/raw/$tag.check" 2>/dev/null || echo "BAD:no-check -")
    local dreq dconn
    read -r dreq dconn <<<"$(echo "$b0 $b1" | awk '{if ($1=="-"||$3=="-") print "- -"; else print $3-$1-1, $4-$2-1}')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$load" "$name" "$c" "$r" "$parsed" "$cpu" "$dreq" "$dconn" \
        "$(echo "$chk" | tr ' ' '\t')" >>"$RUN/runs.tsv"
    local rps okc non err p50 p99 mx
    IFS=$'\t' read -r rps okc non err p50 p99 mx _ <<<"$parsed"
    { [ "$non" != 0 ] || [ "$err" != 0 ] || [ "$okc" = "-" ] || [ $rc != 0 ]; } && flag=" <-- non2xx/errors/exit $rc"
    case $chk in BAD*) flag="$flag <-- PAGE CHECK" ;; esac
    kill -0 "${PID[$name]}" 2>/dev/null || flag="$flag <-- PROCESS DIED"
    log "  $load $c $name run $r: $rps req/s, 2xx=$okc non2xx=$non failed=$err p50=${p50}ms p99=${p99}ms" \
        "max=${mx}ms proxy cpu=${cpu}% blog +$dreq req +$dconn conns; page: $chk$flag"
}

# ================================================================ main
start_watchdog
cd "$ROOT" || exit 1

install_missing nginx:nginx-light h2load:nghttp2-client curl:curl taskset:util-linux python3:python3 \
    cmake:cmake ninja:ninja-build
for c in h2load curl taskset python3; do
    command -v "$c" >/dev/null 2>&1 || { log "required tool missing: $c"; exit 1; }
done
PROXIES=pforte
for p in $PEERS; do
    if [ "$p" = nginx ] && command -v nginx >/dev/null 2>&1; then PROXIES="$PROXIES nginx"
    else log "peer $p: unknown or binary missing: skipped"; fi
done

build_release pforte pforte-origin
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

if [ -z "$RUN_DIR" ]; then RUN=$(mktemp -d "${TMPDIR:-/tmp}/pforte-iso.XXXXXX"); else RUN=$RUN_DIR; mkdir -p "$RUN"; fi
mkdir -p "$RUN/logs" "$RUN/raw" "$RUN/conf"
chmod 755 "$RUN"      # nginx workers run as an unprivileged user
log "run dir: $RUN"
render "$BENCH/conf/pforte-isolation.toml.in" "$RUN/conf/pforte.toml" pforte
render "$BENCH/conf/nginx-isolation.conf.in" "$RUN/conf/nginx.conf" nginx
if ! "$BUILD_DIR/pforte" -t -c "$RUN/conf/pforte.toml" >"$RUN/logs/pforte-t.out" 2>&1; then
    log "pforte -t rejects $RUN/conf/pforte.toml:"; cat "$RUN/logs/pforte-t.out" >&2; exit 1
fi
for port in "${PORT[pforte]}" "${PORT[nginx]}" "$ADMIN_PORT" "$PLATFORM_PORT" "$BLOG_PORT"; do
    port_open "$port" && { log "port $port is already in use; pick another PORT_BASE"; exit 1; }
done

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command: $0 (PEERS=\"$PEERS\" RUNS=$RUNS LOADS=\"$LOADS\" CASES=\"$CASES\")"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- proxy modules bench/origin CMakeLists.txt 2>/dev/null || echo ' + uncommitted changes in proxy/, modules/, bench/origin or CMakeLists.txt')"
    echo "build: $BUILD_DIR (pforte built $(date -u -r "$BUILD_DIR/pforte" +%H:%M:%SZ), SKIP_BUILD=$SKIP_BUILD), $(grep -E '^CMAKE_BUILD_TYPE:' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | cut -d= -f2)"
    echo "loadavg at start: $(cut -d" " -f1-3 /proc/loadavg)"
    echo "host: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
    echo "h2load: $(h2load --version 2>&1 | head -1); nginx: $(nginx -v 2>&1 | sed 's/.*version: //')"
    echo "origins: pforte-origin --threads 1 (platform :$PLATFORM_PORT, blog :$BLOG_PORT --blog-delay-ms $SLOW_MS), $([ -n "$ORIGIN_CPU" ] && echo "pinned to core $ORIGIN_CPU" || echo unpinned)"
    echo "settings: RUNS=$RUNS DURATION=$DURATION WARMUP=$WARMUP CLIENTS=$CLIENTS STREAMS=$STREAMS OPEN_RPS=$OPEN_RPS FRAG_TIMEOUT_MS=$FRAG_TIMEOUT_MS SLOW_MS=$SLOW_MS SETTLE_S=$SETTLE_S SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU"
} >"$RUN/env.txt"
cat "$RUN/env.txt" >&2
printf 'load\tproxy\tcase\trun\trps\tok\tnon2xx\terrors\tp50_ms\tp99_ms\tmax_ms\tlogged\tproxy_cpu\tblog_req\tblog_conn\tcheck\tcheck_ms\n' >"$RUN/runs.tsv"

start_origin platform "$PLATFORM_PORT" || exit 1
start_origin blog "$BLOG_PORT" --blog-delay-ms "$SLOW_MS" || exit 1
LIVE=()
for p in $PROXIES; do
    if start_proxy "$p"; then
        check_page "$p" healthy "$RUN/logs/$p.first-check"
        log "$p up (pid ${PID[$p]}), first page: $(cat "$RUN/logs/$p.first-check")"
        LIVE+=("$p")
    else log "$p: not measured"; fi
done
[ ${#LIVE[@]} -gt 0 ] || exit 1

n=${#LIVE[@]}
for load in $LOADS; do
    for r in $(seq 1 "$RUNS"); do
        for c in $CASES; do
            set_blog "$c"; sleep "$SETTLE_S"
            for (( k=0; k<n; k++ )); do run_one "$load" "${LIVE[$(( (k + r - 1) % n ))]}" "$c" "$r"; done
        done
        set_blog healthy
    done
done

for p in "${LIVE[@]}"; do
    kill -0 "${PID[$p]}" 2>/dev/null || log "  $p: PROCESS DIED before the end (see $RUN/logs/$p.out)"
    stop_pid "${PID[$p]}"; PID[$p]=""
done
for o in "${ORIGIN_PIDS[@]}"; do stop_pid "$o"; done
{
    echo "# Isolation benchmark: home page with a blog include"
    echo
    sed 's/^/    /' "$RUN/env.txt"
    echo
    (cd "$BENCH/tools" && python3 isostats.py summarize "$RUN" "$FRAG_TIMEOUT_MS")
    echo "Error-log lines while running: pforte $(grep -Eic 'error|crit|alert|emerg|fatal|warn' "$RUN/pforte-error.log" 2>/dev/null || echo 0)," \
         "nginx $(grep -Eic 'error|crit|alert|emerg' "$RUN/logs/nginx-error.log" 2>/dev/null || echo 0) (nginx logs each upstream timeout)"
} >"$RUN/summary.md"
echo
cat "$RUN/summary.md"
log "done in $(elapsed) s; run dir kept: $RUN"
