#!/usr/bin/env bash
# bench/pass_through.sh - pass-through (no cache) throughput, latency and memory of pforte beside
# nginx (proxy_pass + upstream keepalive), h2o 2.2 (proxy.reverse.url) and nghttpx, all in front
# of the SAME origin (build-bench/pforte-origin, 1 thread, unpinned unless ORIGIN_CPU names a core),
# in one invocation.
#
# Each proxy: 1 worker, access log off, keep-alive to the origin, pinned to core SERVER_CPU (0);
# the load generator is pinned to core CLIENT_CPU (1). Tests per proxy, RUNS runs each, the
# proxies' runs interleaved (rotating order) so that every proxy sees the same time windows:
#   h2tls: h2load -D 3 --warm-up-time 1 -c 50 -m 10 --tls13-ciphers=TLS_AES_128_GCM_SHA256 https://127.0.0.1:PORT/static/app.css
#   h1:    wrk -t1 -c50 -d5s --latency http://127.0.0.1:PORT/static/app.css   (after a 1 s wrk warm-up)
# Then CPU_ROUNDS (5) interleaved rounds: every proxy in turn gets CPU_REQUESTS (100,000) requests
# per protocol (h2load -n; --h1 for HTTP/1.1) and its CPU time per request is recorded (cpu.tsv).
# CPU_SPLIT=1 also samples these runs with perf record (cpu-clock) and splits that CPU per request
# into kernel, TLS, nghttp2, libc, allocator, libevent and own code (cpu_split.tsv, summary.md).
# Memory: a fresh process per proxy, RSS before/after IDLE_CONNS idle h2 TLS connections
# (../shared/peers/tools/idle_conns.py, skipped if absent), sampled ~0.3 s and IDLE_SETTLE s after
# the last connection got its response (an idle connection may shed buffers after a while; pforte
# does after 1 s), and RSS + VmHWM after the load.
#
# Run from the repo root, as root (installs missing Debian packages, raises the fd limit):
#   bench/pass_through.sh                      # about 4-5 minutes
#   RUNS=1 IDLE_CONNS=0 bench/pass_through.sh  # quick look
#   PEERS="nginx" bench/pass_through.sh        # pforte and a subset of the peers
# Prints the run folder (mktemp -d) holding configs, raw outputs, runs.tsv, cpu.tsv, mem.tsv, summary.md.
# Everything is on 127.0.0.1; every load command runs under `timeout`; every process started
# here is stopped by its PID (TERM, then KILL) on exit, on INT/TERM and after MAX_TOTAL_S.
set -u -o pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- knobs (and those of lib.sh)
PEERS=${PEERS:-"nginx h2o nghttpx"}
TESTS=${TESTS:-"h2tls h1"}
RUNS=${RUNS:-3}
IDLE_CONNS=${IDLE_CONNS:-2000}      # idle h2 TLS connections for the memory probe (0 = skip)
IDLE_HOLD=${IDLE_HOLD:-3}
IDLE_SETTLE=${IDLE_SETTLE:-2}       # second RSS sample this long after the connections are ready
IDLE_PEERS=${IDLE_PEERS:-all}       # proxies probed for idle memory: "all" or a list (pforte always)
PORT_BASE=${PORT_BASE:-18300}       # origin PORT_BASE+80; proxy i: PORT_BASE+10i+1 (h1), +3 (TLS)
MAX_TOTAL_S=${MAX_TOTAL_S:-900}
CPU_ROUNDS=${CPU_ROUNDS:-5}         # interleaved rounds of CPU per proxied request (0 = skip)
CPU_REQUESTS=${CPU_REQUESTS:-100000}  # requests per proxy, protocol and round
CPU_SPLIT=${CPU_SPLIT:-0}           # 1 = perf record the CPU rounds: CPU per request by library
CPU_SPLIT_HZ=${CPU_SPLIT_HZ:-1999}  # perf's cpu-clock samples per second (CPU_SPLIT=1)
IDLE_TOOL=${IDLE_TOOL:-$ROOT/../shared/peers/tools/idle_conns.py}

ORIGIN_PORT=$((PORT_BASE + 80))
ASSET=/static/app.css
ASSET_SIZE=4096
PROXIES="pforte $PEERS"

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

launch_proxy() {    # launch_proxy NAME OUT (lib.sh start_proxy)
    case $1 in
        pforte)  (cd "$RUN" && exec taskset -c "$SERVER_CPU" "$BUILD_DIR/pforte" -c "$RUN/conf/pforte.toml") >"$2" 2>&1 & ;;
        nginx)   (cd "$RUN" && exec taskset -c "$SERVER_CPU" nginx -p "$RUN/" -e "$RUN/logs/nginx-error.log" -c "$RUN/conf/nginx.conf") >"$2" 2>&1 & ;;
        h2o)     (cd "$RUN" && exec taskset -c "$SERVER_CPU" h2o -c "$RUN/conf/h2o.yaml") >"$2" 2>&1 & ;;
        nghttpx) (cd "$RUN" && exec taskset -c "$SERVER_CPU" nghttpx --conf="$RUN/conf/nghttpx.conf") >"$2" 2>&1 & ;;
        *) return 1 ;;
    esac
}
proxy_ports() { echo "$(h1_port "$1") $(tls_port "$1")"; }

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
        sleep "$(awk -v s="$IDLE_SETTLE" 'BEGIN{print (s > 0.3) ? s - 0.3 : 0}')"
        MEM_SETTLED[$name]=$(status_kib "$mp" VmRSS)
        log "  idle $name: $(cat "$rf") pid $mp RSS $fresh -> $idle KiB" \
            "($(awk -v a="$fresh" -v b="$idle" -v n="${MEM_IDLE_OK[$name]}" 'BEGIN{if (n > 0) printf "%.1f", (b-a)/n; else printf "-"}') KiB/conn)," \
            "after ${IDLE_SETTLE}s ${MEM_SETTLED[$name]} KiB" \
            "($(awk -v a="$fresh" -v b="${MEM_SETTLED[$name]}" -v n="${MEM_IDLE_OK[$name]}" 'BEGIN{if (n > 0) printf "%.1f", (b-a)/n; else printf "-"}') KiB/conn)"
    else
        log "  idle probe of $name failed: $(tail -3 "$RUN/raw/$name.idle.txt" | tr '\n' ' ')"
    fi
    wait $ip 2>/dev/null; LOADPID=""
    kill -0 "${PID[$name]}" 2>/dev/null || log "  $name: PROCESS DIED during the idle probe (see $RUN/logs/$name.idle.out)"
    stop_proxy "$name" idle
}

# ---------------------------------------------------------------- load
build_load() {      # build_load TEST PROXY DURATION -> LOAD, TOOL
    if [ "$1" = h1 ]; then load_command h1 "$3" "http://127.0.0.1:$(h1_port "$2")$ASSET"
    else load_command h2 "$3" "https://127.0.0.1:$(tls_port "$2")$ASSET"; fi
}

# ================================================================ main
start_watchdog

cd "$ROOT" || exit 1

# ---- install what is missing (never starting services)
install_missing nginx:nginx-light h2o:h2o nghttpx:nghttp2-proxy h2load:nghttp2-client wrk:wrk curl:curl \
    openssl:openssl taskset:util-linux python3:python3 cmake:cmake ninja:ninja-build
check_setup

# ---- build pforte and the origin (Release) into build-bench/
build_release pforte pforte-origin



# ---- run folder, cert, configs
make_run_dir pforte-pt
write_configs
pforte_config_ok "$RUN/conf/pforte.toml"
ports_free

write_env "$0 (PEERS=\"$PEERS\" RUNS=$RUNS)" "IDLE_CONNS=$IDLE_CONNS IDLE_HOLD=$IDLE_HOLD IDLE_SETTLE=$IDLE_SETTLE"

# ---- origin (unpinned by default: it shares both cores with the proxy and the load generator;
# ORIGIN_CPU=1 keeps it on the load generator's core, so that the proxy has core 0 to itself)
start_origin
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
# shellcheck disable=SC2086
run_rotating "$TESTS" $LIVE

# ---- CPU per proxied request: every proxy in turn gets the same CPU_REQUESTS requests (h2load -n:
# over TLS with 50 clients x 10 streams, or --h1 with 50 connections); cpu_rounds is in lib.sh.
cpu_load() {        # cpu_load PROXY TEST -> LOAD for cpu_rounds
    if [ "$2" = h1 ]; then
        LOAD=(h2load --h1 -n "$CPU_REQUESTS" -c 50 "http://127.0.0.1:$(h1_port "$1")$ASSET")
    else
        LOAD=(h2load -n "$CPU_REQUESTS" -c 50 -m 10 --tls13-ciphers=TLS_AES_128_GCM_SHA256
              "https://127.0.0.1:$(tls_port "$1")$ASSET")
    fi
}
if [ "$CPU_ROUNDS" -gt 0 ]; then
    log "== CPU per request: $CPU_ROUNDS rounds of $CPU_REQUESTS requests per proxy, proxies in turn"
    # shellcheck disable=SC2086
    cpu_rounds "$TESTS" $LIVE
fi

# ---- memory after load, then stop
record_memory
for p in $PROXIES; do stop_proxy "$p" load; done
stop_pid "$ORIGIN_PID"
{
    printf 'proxy\trss_fresh\trss_idle\tidle_ok\trss_after\thwm_after\trss_settled\n'
    for p in $PROXIES; do
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "${MEM_FRESH[$p]:--}" "${MEM_IDLE[$p]:--}" "${MEM_IDLE_OK[$p]:--}" \
            "${MEM_AFTER[$p]:--}" "${MEM_HWM[$p]:--}" "${MEM_SETTLED[$p]:--}"
    done
} >"$RUN/mem.tsv"
write_summary "Pass-through benchmark" ptstats.py summarize
log "done in $(elapsed) s; run dir kept: $RUN"
