#!/usr/bin/env bash
# bench/cache.sh - cache HITS of static assets (issue 3): pforte with [cache] beside nginx
# (proxy_cache), HAProxy (cache section), Varnish (malloc, HTTP/1.1 only) and h2o 2.2 serving
# the same files from disk (the upper bound), all with one worker, in front of the SAME origin
# (build-bench/pforte-origin, 1 thread, unpinned unless ORIGIN_CPU names a core), in one invocation.
#
# Assets: 4k = /static/app.css (4096 B), 64k = /static/logo.png (65536 B), both
# `Cache-Control: public, max-age=3600` from the origin; h2o serves copies fetched from the origin.
# Each proxy is pinned to core SERVER_CPU (0), the load generator to core CLIENT_CPU (1). Before
# the runs every cache is warmed and a hit is verified (pforte: `Cache-Status: ...; hit`, the
# others: `X-Cache-Status: HIT`); each run records how many requests reached the origin (must be 0).
# Tests (RUNS runs each, the proxies' runs interleaved in rotating order):
#   h2tls-4k, h2tls-64k: h2load -D 3 --warm-up-time 1 -c 50 -m 10 --tls13-ciphers=TLS_AES_128_GCM_SHA256
#                        (p99 from h2load --log-file; Varnish has no TLS and is skipped)
#   h1-4k, h1-64k:       wrk -t1 -c50 -d5s --latency (after a 1 s wrk warm-up)
# CPU per hit (CPU_ROUNDS rounds, 0 = skip): for each h2 test, every TLS proxy in turn serves the
# same CPU_HITS hits (a tenth of them at 64 KiB; h2load -n, same clients and streams) and its CPU
# time is read from /proc/PID/stat before and after: microseconds of the proxy's CPU per hit,
# whatever the client core could offer, with the proxies' rounds seconds apart (this VM's speed
# drifts by tens of percent between minutes, which the per-run CPU shares do not cancel).
# CPU_SPLIT=1 also samples these runs with perf record (cpu-clock) and splits that CPU per hit
# into kernel, TLS, nghttp2, libc, allocator, libevent and own code (cpu_split.tsv, summary.md).
# Memory: RSS and VmHWM of every proxy after the load; then, for pforte, a fresh process with
# [cache] memory = FILL_MEMORY filled with FILL_FACTOR x that many bytes of distinct cacheable
# objects (/static/<size>.bin?i=N, FILL_SIZES) must stay within memory + 32 MiB.
# Hit ratios: build-bench/pforte-cachesim (the real store, S3-FIFO, against LRU, Zipf + scans).
#
# Run from the repo root, as root (installs missing Debian packages, raises the fd limit):
#   bench/cache.sh                         # about 8-9 minutes
#   RUNS=1 SIM=0 bench/cache.sh            # quick look
#   PEERS="haproxy h2o" TESTS="h2tls-4k" bench/cache.sh
# Prints the run folder (mktemp -d) holding configs, raw outputs, runs.tsv, cpu.tsv, mem.tsv,
# fill.tsv, cachesim.tsv and summary.md. Everything is on 127.0.0.1; every load command runs under
# `timeout`; every process started here is stopped by its PID on exit, on INT/TERM and after
# MAX_TOTAL_S.
set -u -o pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- knobs (and those of lib.sh)
PEERS=${PEERS:-"nginx haproxy varnish h2o"}
TESTS=${TESTS:-"h2tls-4k h2tls-64k h1-4k h1-64k"}
RUNS=${RUNS:-3}
CPU_ROUNDS=${CPU_ROUNDS:-5}         # interleaved rounds of the CPU-per-hit measurement (0 = skip)
CPU_HITS=${CPU_HITS:-200000}        # hits per proxy and round
CPU_SPLIT=${CPU_SPLIT:-0}           # 1 = perf record the CPU rounds: CPU per hit by library
CPU_SPLIT_HZ=${CPU_SPLIT_HZ:-1999}  # perf's cpu-clock samples per second (CPU_SPLIT=1)
H2_P99=${H2_P99:-1}                 # 1 = h2load --log-file, for the p99 of the h2 runs
CACHE_MIB=${CACHE_MIB:-64}          # cache size of every proxy during the load
FILL_MEMORY_MIB=${FILL_MEMORY_MIB:-64}  # pforte [cache] memory for the fill test (0 = skip it)
FILL_FACTOR=${FILL_FACTOR:-2}       # bytes fetched = FILL_FACTOR x FILL_MEMORY, in distinct objects
FILL_SIZES=${FILL_SIZES:-"65536 4096"}
SIM=${SIM:-1}                       # 1 = run pforte-cachesim
PORT_BASE=${PORT_BASE:-18600}       # origin PORT_BASE+80; proxy i: PORT_BASE+10i+1 (h1), +3 (TLS), +9 (admin)
MAX_TOTAL_S=${MAX_TOTAL_S:-1200}

ORIGIN_PORT=$((PORT_BASE + 80))
ORDER="pforte nginx haproxy varnish h2o"

# ---------------------------------------------------------------- proxies
proxy_index() { local i=0 p; for p in $ORDER; do [ "$p" = "$1" ] && { echo $i; return; }; i=$((i+1)); done; echo 9; }
h1_port() { echo $(( PORT_BASE + 10 * $(proxy_index "$1") + 1 )); }
tls_port() { echo $(( PORT_BASE + 10 * $(proxy_index "$1") + 3 )); }
admin_port() { echo $(( PORT_BASE + 10 * $(proxy_index "$1") + 9 )); }
has_tls() { [ "$1" != varnish ]; }
proxy_ports() { if has_tls "$1"; then echo "$(h1_port "$1") $(tls_port "$1")"; else h1_port "$1"; fi; }
proxy_bin() { case $1 in pforte) echo "$BUILD_DIR/pforte" ;; varnish) echo varnishd ;; *) echo "$1" ;; esac; }
proxy_version() {
    case $1 in
        pforte) "$BUILD_DIR/pforte" --version 2>&1 | head -1 ;;
        nginx) nginx -v 2>&1 | sed 's/.*version: //' ;;
        haproxy) haproxy -v 2>&1 | head -1 | awk '{print "haproxy " $3}' ;;
        varnish) varnishd -V 2>&1 | head -1 ;;
        h2o) h2o --version 2>&1 | head -1 ;;
    esac
}
busiest_pid() {     # the process of the tree with the most CPU time
    local best="" bc=-1 p c
    for p in $(tree_pids "$1"); do
        c=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)
        [ "$c" -gt "$bc" ] && { best=$p; bc=$c; }
    done
    echo "$best"
}
# After the load the connections are closed, so "most sockets" finds Varnish's manager, not the
# cache process that served (and holds the malloc storage).
serving_pid() { if [ "$1" = varnish ]; then busiest_pid "${PID[$1]}"; else main_pid "${PID[$1]}"; fi; }
asset_of() { case $1 in *-64k) echo /static/logo.png ;; *) echo /static/app.css ;; esac; }
size_of() { case $1 in /static/logo.png) echo 65536 ;; *) echo 4096 ;; esac; }

render() {          # render TEMPLATE OUT PROXY [CACHE_MIB]
    local mib=${4:-$CACHE_MIB}
    sed -e "s#@RUN@#$RUN#g" -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" -e "s#@H1_PORT@#$(h1_port "$3")#g" \
        -e "s#@TLS_PORT@#$(tls_port "$3")#g" -e "s#@ADMIN_PORT@#$(admin_port "$3")#g" \
        -e "s#@CERT@#$RUN/conf/cert.pem#g" -e "s#@KEY@#$RUN/conf/key.pem#g" \
        -e "s#@CACHE_MIB@#$mib#g" -e "s#@CACHE_MEMORY@#${mib}MiB#g" "$1" >"$2"
}

write_configs() {
    render "$BENCH/conf/pforte-cache.toml.in" "$RUN/conf/pforte-cache.toml" pforte
    render "$BENCH/conf/nginx-cache.conf.in" "$RUN/conf/nginx-cache.conf" nginx
    render "$BENCH/conf/haproxy-cache.cfg.in" "$RUN/conf/haproxy-cache.cfg" haproxy
    render "$BENCH/conf/varnish-cache.vcl.in" "$RUN/conf/varnish-cache.vcl" varnish
    render "$BENCH/conf/h2o-static.yaml.in" "$RUN/conf/h2o-static.yaml" h2o
    [ "$(id -u)" = 0 ] || sed -i '/^user: root/d' "$RUN/conf/h2o-static.yaml"
    cat "$RUN/conf/cert.pem" "$RUN/conf/key.pem" >"$RUN/conf/cert+key.pem"
    mkdir -p "$RUN/cache/nginx" "$RUN/www/static" "$RUN/varnish"
    chmod -R a+rwX "$RUN/cache"
}

PFORTE_CONF=""      # the pforte config launch_proxy uses (the fill test swaps it)
launch_proxy() {    # launch_proxy NAME OUT (lib.sh start_proxy)
    case $1 in
        pforte)  (cd "$RUN" && exec taskset -c "$SERVER_CPU" "$BUILD_DIR/pforte" -c "$PFORTE_CONF") >"$2" 2>&1 & ;;
        nginx)   (cd "$RUN" && exec taskset -c "$SERVER_CPU" nginx -p "$RUN/" -e "$RUN/logs/nginx-error.log" -c "$RUN/conf/nginx-cache.conf") >"$2" 2>&1 & ;;
        haproxy) (cd "$RUN" && exec taskset -c "$SERVER_CPU" haproxy -db -f "$RUN/conf/haproxy-cache.cfg") >"$2" 2>&1 & ;;
        varnish) (cd "$RUN" && exec taskset -c "$SERVER_CPU" varnishd -F -j none -n "$RUN/varnish" \
                      -a "127.0.0.1:$(h1_port varnish)" -T "127.0.0.1:$(admin_port varnish)" \
                      -f "$RUN/conf/varnish-cache.vcl" -s "malloc,${CACHE_MIB}m" -p thread_pools=1) >"$2" 2>&1 & ;;
        h2o)     (cd "$RUN" && exec taskset -c "$SERVER_CPU" h2o -c "$RUN/conf/h2o-static.yaml") >"$2" 2>&1 & ;;
        *) return 1 ;;
    esac
}

fetch() {           # fetch h1|h2 PORT PATH -> "code bytes httpver cache-header"
    local args hdr
    case $1 in
        h1) args=(--http1.1 "http://127.0.0.1:$2$3") ;;
        h2) args=(-k --http2 "https://127.0.0.1:$2$3") ;;
    esac
    hdr=$(mktemp)
    printf '%s %s' "$(curl -s -m 10 -D "$hdr" -o /dev/null -w '%{http_code} %{size_download} %{http_version}' "${args[@]}" 2>/dev/null)" \
        "$(grep -i -m1 -E '^(cache-status|x-cache-status):' "$hdr" | cut -d: -f2- | tr -d ' \r' | cut -c1-60)"
    rm -f "$hdr"
}

is_hit() {          # is_hit PROXY FETCH_RESULT
    local c=${2##* }
    case $1 in
        h2o) return 0 ;;                       # serves files: nothing to hit
        pforte) [[ "${c,,}" == *hit* ]] ;;
        *) [ "$c" = HIT ] ;;
    esac
}

check_proxy() {     # warm both assets over every protocol, then require 200, the size and a hit
    local name=$1 a want r ok=1 proto port
    for a in /static/app.css /static/logo.png; do
        want=$(size_of "$a")
        for proto in h1 h2; do
            if [ $proto = h1 ]; then port=$(h1_port "$name"); else has_tls "$name" || continue; port=$(tls_port "$name"); fi
            fetch $proto "$port" "$a" >/dev/null
            fetch $proto "$port" "$a" >/dev/null
            r=$(fetch $proto "$port" "$a")
            if [ "${r% *}" = "200 $want $([ $proto = h1 ] && echo 1.1 || echo 2)" ] && is_hit "$name" "$r"; then :; else ok=0; fi
            log "  check $name $proto $a -> $r"
        done
    done
    [ $ok = 1 ] || log "  check $name: BAD (want 200, the exact size, the protocol and a cache hit)"
    [ $ok = 1 ]
}

# ---------------------------------------------------------------- load
build_load() {      # build_load TEST PROXY DURATION -> LOAD, TOOL
    local a; a=$(asset_of "$1")
    if [ "${1:0:2}" = h1 ]; then load_command h1 "$3" "http://127.0.0.1:$(h1_port "$2")$a"
    else load_command h2 "$3" "https://127.0.0.1:$(tls_port "$2")$a"; fi
    [ "$TOOL" = h2load ] && [ "$H2_P99" = 1 ] && LOAD=("${LOAD[@]:0:${#LOAD[@]}-1}" --log-file="$RUN/raw/h2load-requests.log" "${LOAD[-1]}")
    return 0
}

after_load() {      # the p99 of an h2load run, from its per-request log, into the raw output
    [ "${2:0:2}" = h1 ] && return 0
    [ -f "$RUN/raw/h2load-requests.log" ] || return 0
    echo "p99 from --log-file: $(python3 "$BENCH/tools/ptstats.py" p99 "$RUN/raw/h2load-requests.log") ms" >>"$4"
    rm -f "$RUN/raw/h2load-requests.log"
}

# ---------------------------------------------------------------- pforte memory with the cache full
metric() { awk -v m="$2" '$1==m{printf "%.0f", $2}' <<<"$1"; }
cpu_load() {        # cpu_load PROXY TEST -> LOAD for cpu_rounds (lib.sh): CPU_HITS h2 TLS hits
    local hits=$CPU_HITS
    [ "${2: -3}" = 64k ] && hits=$((CPU_HITS / 10))   # 16x the bytes per hit
    LOAD=(h2load -n "$hits" -c "$H2_CLIENTS" -m "$H2_STREAMS")
    [ -n "$H2_TLS13_CIPHERS" ] && LOAD+=(--tls13-ciphers="$H2_TLS13_CIPHERS")
    LOAD+=("https://127.0.0.1:$(tls_port "$1")$(asset_of "$2")")
}
fill_probe() {      # fill_probe OBJECT_SIZE: fresh pforte, FILL_FACTOR x FILL_MEMORY of distinct objects
    local size=$1 n mp rss hwm metrics first cfg="$RUN/conf/pforte-fill.toml" urls="$RUN/raw/fill-$1.curl"
    n=$(( FILL_FACTOR * FILL_MEMORY_MIB * 1048576 / size ))
    render "$BENCH/conf/pforte-cache.toml.in" "$cfg" pforte "$FILL_MEMORY_MIB"
    PFORTE_CONF=$cfg
    start_proxy pforte "fill-$size" || return
    awk -v n="$n" -v port="$(h1_port pforte)" -v size="$size" 'BEGIN{for (i = 0; i < n; i++)
        printf "url = \"http://127.0.0.1:%s/static/%s.bin?i=%d\"\noutput = \"/dev/null\"\n", port, size, i}' >"$urls"
    local o0 o1 t0
    o0=$(origin_stats); t0=$(date +%s)
    timeout 300 taskset -c "$CLIENT_CPU" curl -s --http1.1 -K "$urls" >/dev/null 2>"$RUN/logs/fill-$size.curl.err" &
    LOADPID=$!; wait "$LOADPID"; LOADPID=""
    o1=$(origin_stats)
    first=$(fetch h1 "$(h1_port pforte)" "/static/$size.bin?i=$(( n - 1 ))")
    sleep 1
    mp=$(main_pid "${PID[pforte]}")
    rss=$(status_kib "$mp" VmRSS); hwm=$(status_kib "$mp" VmHWM)
    metrics=$(curl -s -m 5 "http://127.0.0.1:$(admin_port pforte)/metrics" | grep -E '^pforte_cache_' | tr -d '\r')
    echo "$metrics" >"$RUN/raw/fill-$size.metrics.txt"
    local limit=$(( (FILL_MEMORY_MIB + 32) * 1024 )) verdict
    if [ -n "$rss" ] && [ "$hwm" -le "$limit" ]; then verdict=ok; else verdict=OVER; fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$n" "$FILL_MEMORY_MIB" \
        "$(echo "$o0 $o1" | awk '{print $3-$1-1}')" "$rss" "$hwm" "$limit" "$verdict" \
        "$(echo "$metrics" | grep -E '^pforte_cache_(bytes|memory_bytes|objects)[ {]' | awk '{printf "%s=%s ", $1, $2}')" \
        "${first##* }" >>"$RUN/fill.tsv"
    log "  fill $n x $size B into memory=${FILL_MEMORY_MIB}MiB in $(( $(date +%s) - t0 )) s: RSS $rss KiB, VmHWM $hwm KiB" \
        "(limit $limit KiB: $verdict); last object again: $first"
    stop_proxy pforte "fill-$size"
}

# ================================================================ main
start_watchdog
cd "$ROOT" || exit 1

install_missing nginx:nginx-light h2o:h2o haproxy:haproxy varnishd:varnish h2load:nghttp2-client wrk:wrk \
    curl:curl openssl:openssl taskset:util-linux python3:python3 cmake:cmake ninja:ninja-build
check_setup

build_release pforte pforte-origin pforte-cachesim

make_run_dir pforte-cache
write_configs
PFORTE_CONF=$RUN/conf/pforte-cache.toml
pforte_config_ok "$PFORTE_CONF"
ports_free

write_env "$0 (PEERS=\"$PEERS\" TESTS=\"$TESTS\" RUNS=$RUNS)" \
    "H2_P99=$H2_P99 CACHE_MIB=$CACHE_MIB FILL_MEMORY_MIB=$FILL_MEMORY_MIB FILL_FACTOR=$FILL_FACTOR FILL_SIZES=\"$FILL_SIZES\""
printf 'size\tobjects\tmemory_mib\torigin_req\trss_kib\thwm_kib\tlimit_kib\tverdict\tmetrics\tlast_object\n' >"$RUN/fill.tsv"

# ---- origin (unpinned by default: it shares both cores with the proxy and the load generator;
# ORIGIN_CPU=1 keeps it on the load generator's core, so that the proxy has core 0 to itself)
start_origin
log "origin up (pid $ORIGIN_PID): $(fetch h1 "$ORIGIN_PORT" /static/app.css)"
for a in app.css logo.png; do       # h2o serves the origin's own bytes
    curl -s -m 10 -o "$RUN/www/static/$a" "http://127.0.0.1:$ORIGIN_PORT/static/$a"
done
chmod -R a+rX "$RUN/www"

# ---- load: all proxies up at once (idle ones cost nothing), caches warmed, runs interleaved
log "== load: starting $PROXIES"
H2_LIVE=""
H1_LIVE=""
for p in $PROXIES; do
    if start_proxy "$p" load && check_proxy "$p"; then
        H1_LIVE="$H1_LIVE $p"
        has_tls "$p" && H2_LIVE="$H2_LIVE $p"
    else log "$p: not measured"; stop_proxy "$p" load; fi
done
H2_TESTS=""; H1_TESTS=""
for t in $TESTS; do if [ "${t:0:2}" = h1 ]; then H1_TESTS="$H1_TESTS $t"; else H2_TESTS="$H2_TESTS $t"; fi; done
# shellcheck disable=SC2086
[ -n "$H2_TESTS" ] && run_rotating "$H2_TESTS" $H2_LIVE
# shellcheck disable=SC2086
[ -n "$H1_TESTS" ] && run_rotating "$H1_TESTS" $H1_LIVE
if [ "$CPU_ROUNDS" -gt 0 ] && [ -n "$H2_TESTS" ]; then
    log "== CPU per hit: $CPU_ROUNDS rounds of $CPU_HITS hits per proxy, proxies in turn"
    # shellcheck disable=SC2086
    cpu_rounds "$H2_TESTS" $H2_LIVE
fi
record_memory
for p in $PROXIES; do stop_proxy "$p" load; done
{
    printf 'proxy\trss_fresh\trss_idle\tidle_ok\trss_after\thwm_after\n'
    for p in $PROXIES; do printf '%s\t-\t-\t-\t%s\t%s\n' "$p" "${MEM_AFTER[$p]:--}" "${MEM_HWM[$p]:--}"; done
} >"$RUN/mem.tsv"

# ---- pforte's memory with the cache over-full
if [ "$FILL_MEMORY_MIB" -gt 0 ]; then
    log "== fill: pforte memory=${FILL_MEMORY_MIB}MiB, ${FILL_FACTOR}x that in distinct objects of $FILL_SIZES bytes"
    for s in $FILL_SIZES; do fill_probe "$s"; done
fi
stop_pid "$ORIGIN_PID"

# ---- hit ratios of the store against LRU
if [ "$SIM" = 1 ]; then
    log "== hit ratios: pforte-cachesim"
    timeout 600 taskset -c "$SERVER_CPU" "$BUILD_DIR/pforte-cachesim" >"$RUN/cachesim.tsv" 2>"$RUN/logs/cachesim.err" ||
        log "pforte-cachesim failed: $(tail -3 "$RUN/logs/cachesim.err")"
fi

write_summary "Cache benchmark" cachestats.py
log "done in $(elapsed) s; run dir kept: $RUN"
