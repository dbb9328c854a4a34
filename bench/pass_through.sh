#!/usr/bin/env bash
# bench/pass_through.sh - pass-through (no cache) throughput, latency and memory of pforte beside
# nginx (proxy_pass + upstream keepalive), h2o 2.2 (proxy.reverse.url) and nghttpx, all in front
# of the SAME origin (build-bench/pforte-origin, 1 thread, unpinned), in one invocation.
#
# Each proxy: 1 worker, access log off, keep-alive to the origin, pinned to core SERVER_CPU (0);
# the load generator is pinned to core CLIENT_CPU (1). Tests per proxy, RUNS runs each, the
# proxies' runs interleaved (rotating order) so that every proxy sees the same time windows:
#   h2tls: h2load -D 3 --warm-up-time 1 -c 50 -m 10 --tls13-ciphers=TLS_AES_128_GCM_SHA256 https://127.0.0.1:PORT/static/app.css
#   h1:    wrk -t1 -c50 -d5s --latency http://127.0.0.1:PORT/static/app.css   (after a 1 s wrk warm-up)
# Memory: a fresh process per proxy, RSS before/after IDLE_CONNS idle h2 TLS connections
# (../shared/peers/tools/idle_conns.py, skipped if absent), and RSS + VmHWM after the load.
#
# Run from the repo root, as root (installs missing Debian packages, raises the fd limit):
#   bench/pass_through.sh                      # about 4-5 minutes
#   RUNS=1 IDLE_CONNS=0 bench/pass_through.sh  # quick look
#   PEERS="nginx" bench/pass_through.sh        # pforte and a subset of the peers
# Prints the run folder (mktemp -d) holding configs, raw outputs, runs.tsv, mem.tsv, summary.md.
# Everything is on 127.0.0.1; every load command runs under `timeout`; every process started
# here is stopped by its PID (TERM, then KILL) on exit, on INT/TERM and after MAX_TOTAL_S.
set -u -o pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
T_START=$(date +%s)
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

# ---------------------------------------------------------------- knobs
PEERS=${PEERS:-"nginx h2o nghttpx"}
TESTS=${TESTS:-"h2tls h1"}
RUNS=${RUNS:-3}
H2_DURATION=${H2_DURATION:-3}
H2_WARMUP=${H2_WARMUP:-1}
H2_CLIENTS=${H2_CLIENTS:-50}
H2_STREAMS=${H2_STREAMS:-10}
H2_TLS13_CIPHERS=${H2_TLS13_CIPHERS-TLS_AES_128_GCM_SHA256}
WRK_DURATION=${WRK_DURATION:-5}
WRK_CONNS=${WRK_CONNS:-50}
WARM_S=${WARM_S:-1}                 # unrecorded wrk warm-up before each recorded wrk run (0 = none)
IDLE_CONNS=${IDLE_CONNS:-2000}      # idle h2 TLS connections for the memory probe (0 = skip)
IDLE_HOLD=${IDLE_HOLD:-2}
IDLE_PEERS=${IDLE_PEERS:-all}       # proxies probed for idle memory: "all" or a list (pforte always)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT_BASE=${PORT_BASE:-18300}       # origin PORT_BASE+80; proxy i: PORT_BASE+10i+1 (h1), +3 (TLS)
MAX_TOTAL_S=${MAX_TOTAL_S:-900}
SKIP_INSTALL=${SKIP_INSTALL:-0}
SKIP_BUILD=${SKIP_BUILD:-0}         # 1 = use build-bench/ as it is
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
RUN_DIR=${RUN_DIR:-}
IDLE_TOOL=${IDLE_TOOL:-$ROOT/../shared/peers/tools/idle_conns.py}

ORIGIN_PORT=$((PORT_BASE + 80))
ASSET=/static/app.css
ASSET_SIZE=4096
PROXIES="pforte $PEERS"

ORIGIN_PID=""
ERRS_SEEN=""
declare -A PID=() ERR_FROM=() MEM_FRESH=() MEM_IDLE=() MEM_IDLE_OK=() MEM_AFTER=() MEM_HWM=()

# ---------------------------------------------------------------- processes
cpu_snap() {        # "busy idle" jiffies of the server core and the client core
    awk -v s="cpu$SERVER_CPU" -v c="cpu$CLIENT_CPU" \
        '$1==s{sb=$2+$3+$4+$7+$8+$9; si=$5+$6} $1==c{cb=$2+$3+$4+$7+$8+$9; ci=$5+$6} END{print sb, si, cb, ci}' /proc/stat
}
status_kib() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null; }
sockets_of() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'socket:'; }
main_pid() {        # serving process: most sockets; ties -> most CPU
    local best="" bs=-1 bc=-1 p s c
    for p in $(tree_pids "$1"); do
        s=$(sockets_of "$p"); c=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)
        if [ "$s" -gt "$bs" ] || { [ "$s" -eq "$bs" ] && [ "$c" -ge "$bc" ]; }; then best=$p; bs=$s; bc=$c; fi
    done
    echo "$best"
}

# ---------------------------------------------------------------- proxies
proxy_index() { local i=0 p; for p in pforte nginx h2o nghttpx; do [ "$p" = "$1" ] && { echo $i; return; }; i=$((i+1)); done; echo 9; }
h1_port() { echo $(( PORT_BASE + 10 * $(proxy_index "$1") + 1 )); }
tls_port() { echo $(( PORT_BASE + 10 * $(proxy_index "$1") + 3 )); }
proxy_bin() { case $1 in pforte) echo "$BUILD_DIR/pforte" ;; *) echo "$1" ;; esac; }
proxy_version() {
    case $1 in
        pforte) "$BUILD_DIR/pforte" --version 2>&1 | head -1 ;;
        nginx) nginx -v 2>&1 | sed 's/.*version: //' ;;
        h2o) h2o --version 2>&1 | head -1 ;;
        nghttpx) nghttpx --version 2>&1 | head -1 ;;
    esac
}

render() {          # render TEMPLATE OUT PROXY
    sed -e "s#@RUN@#$RUN#g" -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" -e "s#@H1_PORT@#$(h1_port "$3")#g" \
        -e "s#@TLS_PORT@#$(tls_port "$3")#g" -e "s#@CERT@#$RUN/conf/cert.pem#g" -e "s#@KEY@#$RUN/conf/key.pem#g" \
        "$1" >"$2"
}

write_configs() {
    render "$BENCH/conf/pforte.toml.in" "$RUN/conf/pforte.toml" pforte
    render "$BENCH/conf/nginx-proxy.conf.in" "$RUN/conf/nginx.conf" nginx
    render "$BENCH/conf/h2o-proxy.yaml.in" "$RUN/conf/h2o.yaml" h2o
    [ "$(id -u)" = 0 ] || sed -i '/^user: root/d' "$RUN/conf/h2o.yaml"
    render "$BENCH/conf/nghttpx-proxy.conf.in" "$RUN/conf/nghttpx.conf" nghttpx
}

start_proxy() {     # start_proxy NAME TAG -> PID[NAME]
    local name=$1 out="$RUN/logs/$1.$2.out"
    ERR_FROM[$name]=$(nlines "$(errlog_of "$name")")
    case $name in
        pforte)  (cd "$RUN" && exec taskset -c "$SERVER_CPU" "$BUILD_DIR/pforte" -c "$RUN/conf/pforte.toml") >"$out" 2>&1 & ;;
        nginx)   (cd "$RUN" && exec taskset -c "$SERVER_CPU" nginx -p "$RUN/" -e "$RUN/logs/nginx-error.log" -c "$RUN/conf/nginx.conf") >"$out" 2>&1 & ;;
        h2o)     (cd "$RUN" && exec taskset -c "$SERVER_CPU" h2o -c "$RUN/conf/h2o.yaml") >"$out" 2>&1 & ;;
        nghttpx) (cd "$RUN" && exec taskset -c "$SERVER_CPU" nghttpx --conf="$RUN/conf/nghttpx.conf") >"$out" 2>&1 & ;;
        *) return 1 ;;
    esac
    PID[$name]=$!
    STARTED+=("$!")
    if ! wait_ports "${PID[$name]}" "$(h1_port "$name")" "$(tls_port "$name")"; then
        log "$name did not come up (see $out):"
        tail -5 "$out" >&2
        stop_pid "${PID[$name]}"; PID[$name]=""
        return 1
    fi
}

errlog_of() { if [ "$1" = pforte ]; then echo "$RUN/pforte-error.log"; else echo "$RUN/logs/$1-error.log"; fi; }
nlines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
ERR_PAT='error|crit|alert|emerg|fatal|warn'
report_errors() {   # error-log lines the proxy wrote while it ran (start .. just before the stop)
    local name=$1 tag=$2 f from n
    f=$(errlog_of "$name"); from=${ERR_FROM[$name]:-0}
    n=$(tail -n +"$((from + 1))" "$f" 2>/dev/null | grep -Eic "$ERR_PAT")
    if [ "${n:-0}" -gt 0 ]; then
        log "  $name ($tag): $n error/warning lines in $(basename "$f") while running; first:" \
            "$(tail -n +"$((from + 1))" "$f" | grep -Ei -m1 "$ERR_PAT" | cut -c1-200)"
        ERRS_SEEN="$ERRS_SEEN $name/$tag:$n"
    fi
}
stop_proxy() {      # stop_proxy NAME TAG
    [ -n "${PID[$1]:-}" ] || return 0
    report_errors "$1" "${2:-}"
    stop_pid "${PID[$1]}"; PID[$1]=""
}

check_get() {       # check_get h1|h2 PORT -> "code bytes httpver"
    local args
    case $1 in
        h1) args=(--http1.1 "http://127.0.0.1:$2$ASSET") ;;
        h2) args=(-k --http2 "https://127.0.0.1:$2$ASSET") ;;
    esac
    curl -s -m 10 -o /dev/null -w '%{http_code} %{size_download} %{http_version}' "${args[@]}" 2>/dev/null
}

check_proxy() {     # fails unless both endpoints answer 200 with the exact size (and h2 over TLS)
    local name=$1 r1 r2 ok=0
    r1=$(check_get h1 "$(h1_port "$name")"); r2=$(check_get h2 "$(tls_port "$name")")
    [ "$r1" = "200 $ASSET_SIZE 1.1" ] && [ "$r2" = "200 $ASSET_SIZE 2" ] && ok=1
    log "  check $name: h1 -> $r1, h2 TLS -> $r2 $([ $ok = 1 ] && echo ok || echo 'BAD (want 200, 4096 bytes, HTTP/1.1 and 2)')"
    [ $ok = 1 ]
}

origin_stats() {    # "requests connections" of the origin (the stats request itself is counted too)
    python3 "$BENCH/tools/ptstats.py" origin-stats "$(curl -s -m 5 "http://127.0.0.1:$ORIGIN_PORT/_origin/stats" 2>/dev/null)"
}

# ---------------------------------------------------------------- idle-connection memory
idle_probe() {      # fresh process, RSS before/after IDLE_CONNS idle h2 TLS connections
    local name=$1 rf="$RUN/tmp.ready" mp fresh idle i ip
    start_proxy "$name" idle || return
    check_proxy "$name" || log "  $name: check failed, probing anyway"
    sleep 0.5
    mp=$(main_pid "${PID[$name]}")
    declare -A f0=()
    for i in $(tree_pids "${PID[$name]}"); do f0[$i]=$(status_kib "$i" VmRSS); done
    rm -f "$rf"
    timeout 120 taskset -c "$CLIENT_CPU" python3 "$IDLE_TOOL" --port "$(tls_port "$name")" --mode h2 \
        -n "$IDLE_CONNS" --hold "$IDLE_HOLD" --ready-file "$rf" >"$RUN/raw/$name.idle.txt" 2>&1 &
    ip=$!; LOADPID=$ip
    for i in $(seq 1 500); do [ -s "$rf" ] && break; kill -0 $ip 2>/dev/null || break; sleep 0.2; done
    if [ -s "$rf" ]; then
        sleep 0.3
        mp=$(main_pid "${PID[$name]}")          # the process holding the connections
        fresh=${f0[$mp]:-0}
        idle=$(status_kib "$mp" VmRSS)
        MEM_FRESH[$name]=$fresh; MEM_IDLE[$name]=$idle
        MEM_IDLE_OK[$name]=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' "$rf")
        log "  idle $name: $(cat "$rf") pid $mp RSS $fresh -> $idle KiB" \
            "($(awk -v a="$fresh" -v b="$idle" -v n="${MEM_IDLE_OK[$name]}" 'BEGIN{if (n > 0) printf "%.1f", (b-a)/n; else printf "-"}') KiB/conn)"
    else
        log "  idle probe of $name failed: $(tail -3 "$RUN/raw/$name.idle.txt" | tr '\n' ' ')"
    fi
    wait $ip 2>/dev/null; LOADPID=""
    kill -0 "${PID[$name]}" 2>/dev/null || log "  $name: PROCESS DIED during the idle probe (see $RUN/logs/$name.idle.out)"
    stop_proxy "$name" idle
}

# ---------------------------------------------------------------- load
build_load() {      # build_load TEST PROXY DURATION -> LOAD, TOOL
    local t=$1 name=$2 dur=$3
    if [ "$t" = h1 ]; then
        TOOL=wrk
        LOAD=(wrk -t1 -c"$WRK_CONNS" -d"${dur}s" --latency "http://127.0.0.1:$(h1_port "$name")$ASSET")
    else
        TOOL=h2load
        LOAD=(h2load -D "$dur" --warm-up-time "$H2_WARMUP" -c "$H2_CLIENTS" -m "$H2_STREAMS")
        [ -n "$H2_TLS13_CIPHERS" ] && LOAD+=(--tls13-ciphers="$H2_TLS13_CIPHERS")
        LOAD+=("https://127.0.0.1:$(tls_port "$name")$ASSET")
    fi
}

run_one() {         # run_one PROXY TEST RUN#
    local name=$1 t=$2 r=$3 dur limit raw rc
    if [ -z "${PID[$name]:-}" ] || ! kill -0 "${PID[$name]}" 2>/dev/null; then
        log "  $name $t run $r: PROCESS NOT RUNNING, skipped"
        printf '%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$name" "$t" "$r" >>"$RUN/runs.tsv"
        return
    fi
    if [ "$t" = h1 ]; then dur=$WRK_DURATION; else dur=$H2_DURATION; fi
    limit=$(( dur + H2_WARMUP + 30 ))
    if [ "$t" = h1 ] && [ "$WARM_S" != 0 ]; then
        build_load h1 "$name" "$WARM_S"
        timeout $(( WARM_S + 20 )) taskset -c "$CLIENT_CPU" "${LOAD[@]}" >"$RUN/raw/$name.$t.run$r.warm.txt" 2>&1 &
        LOADPID=$!; wait "$LOADPID"; LOADPID=""
    fi
    build_load "$t" "$name" "$dur"
    raw="$RUN/raw/$name.$t.run$r.txt"
    local o0 o1 c0 c1 s0 s1 g0 g1 t0 t1
    o0=$(origin_stats); c0=$(cpu_snap); s0=$(tree_cpu_ticks "${PID[$name]}"); g0=$(tree_cpu_ticks "$ORIGIN_PID"); t0=$(date +%s%N)
    echo "# ${LOAD[*]}" >"$raw"
    timeout "$limit" taskset -c "$CLIENT_CPU" "${LOAD[@]}" >>"$raw" 2>&1 &
    LOADPID=$!; wait "$LOADPID"; rc=$?; LOADPID=""
    t1=$(date +%s%N); s1=$(tree_cpu_ticks "${PID[$name]}"); g1=$(tree_cpu_ticks "$ORIGIN_PID"); c1=$(cpu_snap); o1=$(origin_stats)
    [ $rc != 0 ] && echo "# exit status $rc" >>"$raw"
    local parsed cpu hz sp gp dreq dconn
    parsed=$(python3 "$BENCH/tools/ptstats.py" parse "$TOOL" "$raw")
    cpu=$(echo "$c0 $c1" | awk '{sb=$5-$1; si=$6-$2; cb=$7-$3; ci=$8-$4; a=0; b=0;
          if (sb+si > 0) a=100*sb/(sb+si); if (cb+ci > 0) b=100*cb/(cb+ci); printf "%.1f\t%.1f", a, b}')
    hz=$(getconf CLK_TCK)
    sp=$(awk -v a="$s0" -v b="$s1" -v t0="$t0" -v t1="$t1" -v hz="$hz" 'BEGIN{w=(t1-t0)/1e9; printf "%.1f", (w>0)?100*(b-a)/hz/w:0}')
    gp=$(awk -v a="$g0" -v b="$g1" -v t0="$t0" -v t1="$t1" -v hz="$hz" 'BEGIN{w=(t1-t0)/1e9; printf "%.1f", (w>0)?100*(b-a)/hz/w:0}')
    read -r dreq dconn <<<"$(echo "$o0 $o1" | awk '{if ($1=="-"||$3=="-") print "- -"; else print $3-$1-1, $4-$2-1}')"
    local wall; wall=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN{printf "%.3f", (t1-t0)/1e9}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$t" "$r" "$parsed" "$dreq" "$dconn" "$cpu" "$sp" "$gp" "$wall" >>"$RUN/runs.tsv"
    local rps okc non err flag=""
    IFS=$'\t' read -r rps _ _ _ _ okc non err <<<"$parsed"
    { [ "$non" != 0 ] || [ "$err" != 0 ] || [ "$okc" = "-" ] || [ $rc != 0 ]; } && flag=" <-- CHECK non2xx/errors/exit $rc"
    kill -0 "${PID[$name]}" 2>/dev/null || flag="$flag <-- PROCESS DIED"
    log "  $name $t run $r: $rps req/s, 2xx=$okc non2xx=$non err=$err origin +${dreq} req +${dconn} conns," \
        "cpu core$SERVER_CPU/core$CLIENT_CPU=$(echo "$cpu" | tr '\t' '/')% proxy=${sp}% origin=${gp}%$flag"
}

# ================================================================ main
start_watchdog

cd "$ROOT" || exit 1

# ---- install what is missing (never starting services)
install_missing nginx:nginx-light h2o:h2o nghttpx:nghttp2-proxy h2load:nghttp2-client wrk:wrk curl:curl \
    openssl:openssl taskset:util-linux python3:python3 cmake:cmake ninja:ninja-build
for c in h2load wrk curl openssl taskset python3; do
    command -v "$c" >/dev/null 2>&1 || { log "required tool missing: $c"; exit 1; }
done
peers_ok=""
for p in $PEERS; do
    if command -v "$(proxy_bin "$p")" >/dev/null 2>&1 && [ "$(proxy_index "$p")" != 9 ]; then peers_ok="$peers_ok $p"
    else log "peer $p: unknown or binary missing: skipped"; fi
done
PEERS=${peers_ok# }
PROXIES="pforte $PEERS"

# ---- build pforte and the origin (Release) into build-bench/
if [ "$SKIP_BUILD" != 1 ]; then
    build_bench || exit 1
fi
for b in pforte pforte-origin; do
    [ -x "$BUILD_DIR/$b" ] || { log "$BUILD_DIR/$b missing (build it or unset SKIP_BUILD)"; exit 1; }
done

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(nproc)" -lt 2 ] && log "WARNING: fewer than 2 cores: server and client share a core"

# ---- run folder, cert, configs
if [ -z "$RUN_DIR" ]; then RUN=$(mktemp -d "${TMPDIR:-/tmp}/pforte-pt.XXXXXX"); else RUN=$RUN_DIR; mkdir -p "$RUN"; fi
mkdir -p "$RUN/logs" "$RUN/raw" "$RUN/conf"
chmod 755 "$RUN"      # nginx workers run as an unprivileged user
log "run dir: $RUN"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$RUN/conf/key.pem" -out "$RUN/conf/cert.pem" -days 2 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1 || { log "openssl req failed"; exit 1; }
write_configs
if ! "$BUILD_DIR/pforte" -t -c "$RUN/conf/pforte.toml" >"$RUN/logs/pforte-t.out" 2>&1; then
    log "pforte -t rejects $RUN/conf/pforte.toml (a stale or broken build? 'ninja -C $BUILD_DIR -t clean' and rerun):"
    cat "$RUN/logs/pforte-t.out" >&2
    exit 1
fi

for p in $PROXIES; do
    for port in "$(h1_port "$p")" "$(tls_port "$p")"; do
        port_open "$port" && { log "port $port (for $p) is already in use; pick another PORT_BASE"; exit 1; }
    done
done
port_open "$ORIGIN_PORT" && { log "origin port $ORIGIN_PORT is in use; pick another PORT_BASE"; exit 1; }

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command: $0 (PEERS=\"$PEERS\" RUNS=$RUNS)"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- proxy modules CMakeLists.txt 2>/dev/null || echo ' + uncommitted changes in proxy/, modules/ or CMakeLists.txt')"
    echo "build: $BUILD_DIR (pforte built $(date -u -r "$BUILD_DIR/pforte" +%H:%M:%SZ), SKIP_BUILD=$SKIP_BUILD), $(grep -E '^CMAKE_BUILD_TYPE:' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | cut -d= -f2), CMAKE_CXX_FLAGS='$(grep -E '^CMAKE_CXX_FLAGS:' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | cut -d= -f2-)'"
    echo "loadavg at start: $(cut -d" " -f1-3 /proc/loadavg)"
    echo "host: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "openssl: $(openssl version)"
    echo "h2load: $(h2load --version 2>&1 | head -1)"
    echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
    for p in $PROXIES; do echo "$p: $(proxy_version "$p")"; done
    echo "origin: $BUILD_DIR/pforte-origin --listen 127.0.0.1:$ORIGIN_PORT --threads 1 --quiet (unpinned)"
    echo "settings: RUNS=$RUNS H2_DURATION=$H2_DURATION H2_WARMUP=$H2_WARMUP H2_CLIENTS=$H2_CLIENTS H2_STREAMS=$H2_STREAMS H2_TLS13_CIPHERS=${H2_TLS13_CIPHERS:-default} WRK_DURATION=$WRK_DURATION WRK_CONNS=$WRK_CONNS WARM_S=$WARM_S IDLE_CONNS=$IDLE_CONNS IDLE_HOLD=$IDLE_HOLD SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU"
} >"$RUN/env.txt"
cat "$RUN/env.txt" >&2
printf 'proxy\ttest\trun\trps\tmean_ms\tmax_ms\tp50_ms\tp99_ms\tok\tnon2xx\terrors\torigin_req\torigin_conn\tcpu_srv_core\tcpu_cli_core\tproxy_cpu\torigin_cpu\twall_s\n' >"$RUN/runs.tsv"

# ---- origin (unpinned: it shares both cores with the proxy and the load generator)
"$BUILD_DIR/pforte-origin" --listen "127.0.0.1:$ORIGIN_PORT" --threads 1 --quiet >"$RUN/logs/origin.out" 2>&1 &
ORIGIN_PID=$!
STARTED+=("$ORIGIN_PID")
wait_ports "$ORIGIN_PID" "$ORIGIN_PORT" || { log "origin did not start"; cat "$RUN/logs/origin.out" >&2; exit 1; }
log "origin up (pid $ORIGIN_PID): $(check_get h1 "$ORIGIN_PORT")"

# ---- phase 1: idle-connection memory, one fresh process at a time
if [ "$IDLE_CONNS" -gt 0 ]; then
    if [ ! -f "$IDLE_TOOL" ]; then
        log "idle-connection probe skipped: $IDLE_TOOL not found (../shared/peers is absent)"
    else
        log "== idle memory: $IDLE_CONNS idle h2 TLS connections per proxy"
        for p in $PROXIES; do
            [ "$IDLE_PEERS" = all ] || [ "$p" = pforte ] || case " $IDLE_PEERS " in *" $p "*) ;; *) continue ;; esac
            idle_probe "$p"
        done
    fi
fi

# ---- phase 2: load; all proxies up at once (idle ones cost nothing), runs interleaved
log "== load: starting $PROXIES"
LIVE=""
for p in $PROXIES; do
    if start_proxy "$p" load && check_proxy "$p"; then LIVE="$LIVE $p"
    else log "$p: not measured"; stop_proxy "$p" load; fi
done
read -r -a LIVE_A <<<"$LIVE"
n=${#LIVE_A[@]}
for t in $TESTS; do
    for r in $(seq 1 "$RUNS"); do
        for (( k=0; k<n; k++ )); do
            p=${LIVE_A[$(( (k + r - 1) % n ))]}
            run_one "$p" "$t" "$r"
        done
    done
done

# ---- memory after load, then stop
for p in $PROXIES; do
    [ -n "${PID[$p]:-}" ] || continue
    if kill -0 "${PID[$p]}" 2>/dev/null; then
        mp=$(main_pid "${PID[$p]}")
        MEM_AFTER[$p]=$(status_kib "$mp" VmRSS); MEM_HWM[$p]=$(status_kib "$mp" VmHWM)
        log "  memory $p (pid $mp): RSS after load ${MEM_AFTER[$p]} KiB, VmHWM ${MEM_HWM[$p]} KiB"
    else
        log "  $p: PROCESS DIED before the end of the load (see $RUN/logs/$p.load.out)"
    fi
done
for p in $PROXIES; do stop_proxy "$p" load; done
stop_pid "$ORIGIN_PID"
{
    printf 'proxy\trss_fresh\trss_idle\tidle_ok\trss_after\thwm_after\n'
    for p in $PROXIES; do
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "${MEM_FRESH[$p]:--}" "${MEM_IDLE[$p]:--}" "${MEM_IDLE_OK[$p]:--}" \
            "${MEM_AFTER[$p]:--}" "${MEM_HWM[$p]:--}"
    done
} >"$RUN/mem.tsv"
{
    echo "# Pass-through benchmark"
    echo
    sed 's/^/    /' "$RUN/env.txt"
    echo
    python3 "$BENCH/tools/ptstats.py" summarize "$RUN"
    echo "Error/warning lines in the proxies' error logs while they ran (shutdown messages excluded): ${ERRS_SEEN:-none}"
} >"$RUN/summary.md"
echo
cat "$RUN/summary.md"
log "done in $(elapsed) s; run dir kept: $RUN"
