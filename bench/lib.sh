# shellcheck shell=bash disable=SC2034   # (variables used by the sourcing scripts)
# bench/lib.sh - shell functions shared by bench/pass_through.sh and bench/cache.sh (sourced).
#
# It sets BENCH, ROOT and T_START. The sourcing script sets MAX_TOTAL_S, PEERS, and RUN
# and ORIGIN_PORT before using the proxy functions. The load knobs shared by the scripts (H2_*,
# WRK_*, WARM_S, SERVER_CPU, CLIENT_CPU, SKIP_*, BUILD_DIR, RUN_DIR) get their defaults below.
# It defines:
#   launch_proxy NAME OUT   start NAME in the background (pinned), its output to OUT
#   proxy_ports NAME        the ports that must accept connections once NAME is up
#   build_load TEST NAME DURATION   set LOAD (the command) and TOOL (h2load|wrk)
#   proxy_bin NAME, proxy_index NAME (9 = unknown)
# and optionally after_load NAME TEST RUN# RAW (called after each measured run, before parsing)
# and serving_pid NAME (the process whose memory record_memory reads; default main_pid).
# CPU_SPLIT=1 (default 0) also samples each cpu_rounds run with perf record (cpu-clock,
# CPU_SPLIT_HZ per second) and splits its CPU per request by library into RUN/cpu_split.tsv.
# Tests whose name starts with "h1" are wrk runs (with a WARM_S warm-up); the others h2load.

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
T_START=$(date +%s)

# ---------------------------------------------------------------- common knobs
H2_DURATION=${H2_DURATION:-3}
H2_WARMUP=${H2_WARMUP:-1}
H2_CLIENTS=${H2_CLIENTS:-50}
H2_STREAMS=${H2_STREAMS:-10}
H2_TLS13_CIPHERS=${H2_TLS13_CIPHERS-TLS_AES_128_GCM_SHA256}
WRK_DURATION=${WRK_DURATION:-5}
WRK_CONNS=${WRK_CONNS:-50}
WARM_S=${WARM_S:-1}                 # unrecorded wrk warm-up before each recorded wrk run (0 = none)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ORIGIN_CPU=${ORIGIN_CPU:-}          # empty: the origin is unpinned (and may share the proxy's core)
SKIP_INSTALL=${SKIP_INSTALL:-0}
SKIP_BUILD=${SKIP_BUILD:-0}         # 1 = use build-bench/ as it is
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
RUN_DIR=${RUN_DIR:-}

log() { printf '[%4ds] %s\n' "$(( $(date +%s) - T_START ))" "$*" >&2; }
elapsed() { echo $(( $(date +%s) - T_START )); }

STARTED=()
LOADPID=""
SPLIT_PERF=""       # perf record's PID while it samples a cpu_rounds run (CPU_SPLIT=1)
WATCHDOG=""
ORIGIN_PID=""
ERRS_SEEN=""
declare -A PID=() ERR_FROM=() MEM_FRESH=() MEM_IDLE=() MEM_SETTLED=() MEM_IDLE_OK=() MEM_AFTER=() MEM_HWM=()

# ---------------------------------------------------------------- processes
descendants() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}

alive_of() { local k; for k in "$@"; do kill -0 "$k" 2>/dev/null && echo "$k"; done; }

stop_pid() {        # stop PID $1 and whatever it spawned, each by its own PID
    local pid=$1 kids i alive=""
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kids=$(descendants "$pid")
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # children usually leave with their parent; then TERM (up to 2 s), then KILL
    # shellcheck disable=SC2086
    for i in $(seq 1 16); do
        alive=$(alive_of $kids)
        [ -z "$alive" ] && return 0
        [ "$i" = 6 ] && kill -TERM $alive 2>/dev/null
        sleep 0.2
    done
    # shellcheck disable=SC2086
    kill -KILL $alive 2>/dev/null
    return 0
}

cleanup() {
    local i
    trap - EXIT INT TERM
    [ -n "$LOADPID" ] && kill -TERM "$LOADPID" 2>/dev/null
    [ -n "$SPLIT_PERF" ] && stop_pid "$SPLIT_PERF"
    for (( i=${#STARTED[@]}-1; i>=0; i-- )); do stop_pid "${STARTED[$i]}"; done
    [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
    [ -n "${RUN:-}" ] && log "run dir: $RUN"
}
on_signal() { log "interrupted (signal or MAX_TOTAL_S=$MAX_TOTAL_S): stopping what was started"; cleanup; exit 130; }

start_watchdog() {  # traps, and a TERM to this script after MAX_TOTAL_S
    local main_pid=$$
    trap on_signal INT TERM
    trap cleanup EXIT
    ( trap 'kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; exit 0' TERM
      sleep "$MAX_TOTAL_S" & SPID=$!
      wait "$SPID" && { log "MAX_TOTAL_S=$MAX_TOTAL_S reached"; kill -TERM "$main_pid" 2>/dev/null; } ) &
    WATCHDOG=$!
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_ports() {      # wait_ports PID PORT... ; fails if PID dies or a port stays closed 15 s
    local pid=$1 i p ok; shift
    for i in $(seq 1 75); do
        kill -0 "$pid" 2>/dev/null || return 1
        ok=1
        for p in "$@"; do port_open "$p" || { ok=0; break; }; done
        [ $ok = 1 ] && return 0
        sleep 0.2
    done
    return 1
}

cpu_snap() {        # "busy idle" jiffies of the server core and the client core
    awk -v s="cpu$SERVER_CPU" -v c="cpu$CLIENT_CPU" \
        '$1==s{sb=$2+$3+$4+$7+$8+$9; si=$5+$6} $1==c{cb=$2+$3+$4+$7+$8+$9; ci=$5+$6} END{print sb, si, cb, ci}' /proc/stat
}
tree_pids() { echo "$1"; descendants "$1"; }
tree_cpu_ticks() {
    local t=0 p v
    for p in $(tree_pids "$1"); do v=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null) && t=$((t + v)); done
    echo $t
}
status_kib() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null; }
# CPU_SPLIT=1: perf record samples the proxy's processes (cpu-clock, CPU_SPLIT_HZ per second)
# during each cpu_rounds run; the samples' shared objects split the run's us_per_req by component.
SPLIT_COLS="proxy test round us_per_req kernel tls h2lib libc alloc event own other"
split_start() {     # split_start PROXY FILE: perf record on PROXY's process tree -> SPLIT_PERF
    local pids i
    pids=$(tree_pids "${PID[$1]}" | paste -sd, -)
    echo "# $1: perf record -p $pids -o $2" >>"$RUN/logs/perf-record.out"
    # -N: no copies of the sampled binaries in ~/.debug; timeout: never outlives the run by long
    timeout 180 taskset -c "$CLIENT_CPU" perf record -N -e cpu-clock -F "${CPU_SPLIT_HZ:-1999}" \
        -p "$pids" -o "$2" >>"$RUN/logs/perf-record.out" 2>&1 &
    SPLIT_PERF=$!
    # perf writes the file's header once its events are open, then enables them
    for i in $(seq 1 25); do
        [ -s "$2" ] && break
        kill -0 "$SPLIT_PERF" 2>/dev/null || break
        sleep 0.2
    done
    sleep 0.2
    kill -0 "$SPLIT_PERF" 2>/dev/null && return 0
    wait "$SPLIT_PERF" 2>/dev/null; SPLIT_PERF=""
    return 1
}
split_stop() {      # SIGINT to perf record (timeout passes it on); TERM/KILL if not gone in 30 s
    local i
    kill -INT "$SPLIT_PERF" 2>/dev/null
    for i in $(seq 1 150); do kill -0 "$SPLIT_PERF" 2>/dev/null || break; sleep 0.2; done
    stop_pid "$SPLIT_PERF"
    SPLIT_PERF=""
}
split_line() {      # split_line FILE PROXY TEST ROUND US_PER_REQ: a line for RUN/cpu_split.tsv
    perf report -i "$1" --no-children --sort dso -F sample,dso --stdio 2>/dev/null |
    awk -v p="$2" -v t="$3" -v r="$4" -v us="$5" -v cols="$SPLIT_COLS" '
        /^#/ || $1 !~ /^[0-9]+$/ || NF < 2 { next }
        {
            n = $1; d = $0
            sub(/^[ \t]*[0-9]+[ \t]+/, "", d); sub(/[ \t]+$/, "", d)
            if (d ~ /^\[(kernel\.[^]]*|vdso|vsyscall)\]$/) c = "kernel"
            else if (d ~ /^lib(ssl|crypto)\.so/) c = "tls"
            else if (d ~ /^libnghttp2\.so/) c = "h2lib"
            else if (d ~ /^(libc|libm|libpthread|libdl|librt)[-.]|^ld-linux/) c = "libc"
            else if (d ~ /^lib(tcmalloc|jemalloc|mimalloc)/) c = "alloc"
            else if (d ~ /^libevent/) c = "event"
            else if (d !~ /^(lib|\[)/) c = "own"      # the executable (or what it loads itself)
            else c = "other"
            s[c] += n; tot += n
        }
        END {
            if (tot == 0) exit 1
            printf "%s\t%s\t%s\t%.3f", p, t, r, us
            k = split(cols, col, " ")
            for (i = 5; i <= k; i++) printf "\t%.3f", us * s[col[i]] / tot
            printf "\n"
        }'
}

# cpu_rounds TESTS PROXY...: CPU_ROUNDS rounds in which every PROXY in turn (in an order that
# rotates from round to round) runs the load the script's `cpu_load PROXY TEST` puts in LOAD (a
# fixed number of requests, h2load -n); the proxy's CPU time per request goes to RUN/cpu.tsv.
# Rounds seconds apart cancel the VM's drift. With CPU_SPLIT=1, perf record samples each run
# (split_start .. split_stop) and split_line splits its us_per_req by component (cpu_split.tsv).
cpu_rounds() {
    local tests=$1 t r name raw s0 s1 ok split=0 pfile us line; shift
    printf 'proxy\ttest\tround\trequests\tus_per_req\n' >"$RUN/cpu.tsv"
    if [ "${CPU_SPLIT:-0}" = 1 ]; then
        if command -v perf >/dev/null 2>&1; then
            split=1
            tr ' ' '\t' <<<"$SPLIT_COLS" >"$RUN/cpu_split.tsv"
            log "CPU_SPLIT=1: perf record -e cpu-clock -F ${CPU_SPLIT_HZ:-1999} samples every run"
        else
            log "CPU_SPLIT=1 but perf is not installed (Debian: linux-perf): no split by component"
        fi
    fi
    for t in $tests; do
        for r in $(seq 1 "$CPU_ROUNDS"); do
            # The order rotates from round to round, as in the timed runs: a machine that speeds
            # up or slows down within a round then does not always favour the same proxy.
            local names=("$@") i
            for i in $(seq 0 $(($# - 1))); do
                name=${names[$(((i + r - 1) % $#))]}
                cpu_load "$name" "$t"
                raw="$RUN/raw/$name.$t.cpu$r.txt"
                echo "# ${LOAD[*]}" >"$raw"
                pfile="$RUN/raw/$name.$t.cpu$r.perf"
                if [ $split = 1 ] && ! split_start "$name" "$pfile"; then
                    split=0
                    log "perf record failed (perf_event_paranoid? see $RUN/logs/perf-record.out):" \
                        "no split by component from now on: $(tail -1 "$RUN/logs/perf-record.out")"
                fi
                s0=$(tree_cpu_ticks "${PID[$name]}")
                run_load 120 "$raw" "${LOAD[@]}"
                s1=$(tree_cpu_ticks "${PID[$name]}")
                [ -n "$SPLIT_PERF" ] && split_stop
                ok=$(grep -o '[0-9]* succeeded' "$raw" | head -1 | awk '{print $1}')
                awk -v n="$name" -v t="$t" -v r="$r" -v a="$s0" -v b="$s1" -v ok="${ok:-0}" -v hz="$(getconf CLK_TCK)" \
                    'BEGIN{printf "%s\t%s\t%s\t%d\t%.3f\n", n, t, r, ok, (ok>0)?(b-a)/hz*1e6/ok:0}' >>"$RUN/cpu.tsv"
                log "  $name $t cpu round $r: ${ok:-0} requests, $(tail -1 "$RUN/cpu.tsv" | cut -f5) us of CPU per request"
                if [ $split = 1 ]; then
                    us=$(tail -1 "$RUN/cpu.tsv" | cut -f5)
                    if line=$(split_line "$pfile" "$name" "$t" "$r" "$us"); then
                        echo "$line" >>"$RUN/cpu_split.tsv"
                        log "    $name $t split (us/req): $(awk -v c="$SPLIT_COLS" -v l="$line" \
                            'BEGIN{n = split(c, a, " "); split(l, b, "\t")
                                   for (i = 5; i <= n; i++) printf "%s=%s ", a[i], b[i]}')"
                    else
                        log "    $name $t: perf report found no samples in $pfile (no split line)"
                    fi
                fi
                [ "${CPU_SPLIT:-0}" = 1 ] && rm -f "$pfile" "$pfile.old"   # (they are big)
            done
        done
    done
}
# shellcheck disable=SC2010
sockets_of() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'socket:'; }
main_pid() {        # serving process: most sockets; ties -> most CPU
    local best="" bs=-1 bc=-1 p s c
    for p in $(tree_pids "$1"); do
        s=$(sockets_of "$p"); c=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)
        if [ "$s" -gt "$bs" ] || { [ "$s" -eq "$bs" ] && [ "$c" -ge "$bc" ]; }; then best=$p; bs=$s; bc=$c; fi
    done
    echo "$best"
}

# ---------------------------------------------------------------- setup
install_missing() { # install_missing CMD:PACKAGE... (as root, unless SKIP_INSTALL=1; never starts services)
    local missing=() c p
    [ "${CPU_SPLIT:-0}" = 1 ] && set -- "$@" perf:linux-perf   # cpu_rounds samples with perf
    for c in "$@"; do command -v "${c%%:*}" >/dev/null 2>&1 || missing+=("${c#*:}"); done
    [ ${#missing[@]} -gt 0 ] || return 0
    if [ "${SKIP_INSTALL:-0}" = 1 ] || [ "$(id -u)" != 0 ]; then
        log "missing packages (not installing): ${missing[*]}"
        return 0
    fi
    log "installing: ${missing[*]}"
    # Keep maintainer scripts from starting system services (nginx/h2o on port 80/443).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
        for p in "${missing[@]}"; do
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1 || log "install FAILED: $p"
        done
    fi
    # nginx-light may be unavailable on some mirrors: fall back to nginx
    command -v nginx >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null 2>&1 || true
}

check_setup() {     # required tools; drops unknown or missing PEERS; sets PROXIES; raises the fd limit
    local c p ok=""
    for c in h2load wrk curl openssl taskset python3; do
        command -v "$c" >/dev/null 2>&1 || { log "required tool missing: $c"; exit 1; }
    done
    for p in $PEERS; do
        if command -v "$(proxy_bin "$p")" >/dev/null 2>&1 && [ "$(proxy_index "$p")" != 9 ]; then ok="$ok $p"
        else log "peer $p: unknown or binary missing: skipped"; fi
    done
    PEERS=${ok# }
    PROXIES="pforte $PEERS"
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
    [ "$(nproc)" -lt 2 ] && log "WARNING: fewer than 2 cores: server and client share a core"
    return 0
}

pforte_config_ok() { # pforte_config_ok CONF: exits unless pforte -t accepts it
    "$BUILD_DIR/pforte" -t -c "$1" >"$RUN/logs/pforte-t.out" 2>&1 && return 0
    log "pforte -t rejects $1 (a stale or broken build? 'ninja -C $BUILD_DIR -t clean' and rerun):"
    cat "$RUN/logs/pforte-t.out" >&2
    exit 1
}

ports_free() {      # exits if a port of one of PROXIES, or ORIGIN_PORT, is taken
    local p port
    for p in $PROXIES; do
        for port in $(proxy_ports "$p"); do
            port_open "$port" && { log "port $port (for $p) is already in use; pick another PORT_BASE"; exit 1; }
        done
    done
    port_open "$ORIGIN_PORT" && { log "origin port $ORIGIN_PORT is in use; pick another PORT_BASE"; exit 1; }
    return 0
}

write_summary() {   # write_summary TITLE SCRIPT [ARGS]: RUN/summary.md from env.txt and bench/tools/SCRIPT ARGS RUN
    local title=$1 script=$2; shift 2
    {
        echo "# $title"
        echo
        sed 's/^/    /' "$RUN/env.txt"
        echo
        python3 "$BENCH/tools/$script" "$@" "$RUN"
        echo "Error/warning lines in the proxies' error logs while they ran (shutdown messages excluded): ${ERRS_SEEN:-none}"
        python3 "$BENCH/tools/cpusplit.py" "$RUN"   # nothing unless cpu_rounds split (CPU_SPLIT=1)
    } >"$RUN/summary.md"
    echo
    cat "$RUN/summary.md"
}

build_release() {   # build_release TARGET... into BUILD_DIR (Release, no tests), unless SKIP_BUILD=1
    local blog t
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        log "building $* (Release) in $BUILD_DIR"
        blog=$(mktemp)
        if ! { cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPFORTE_TESTS=OFF &&
               ninja -C "$BUILD_DIR" "$@"; } >"$blog" 2>&1; then
            if grep -q -- '-Werror=restrict' "$blog"; then
                # g++ 12 reports a false -Wrestrict inside std::string at -O3 (GCC bug 105329);
                # -Werror turns it into a failure. Keep the warning, not the error.
                log "Release build failed on g++ 12's false -Wrestrict; retrying with -Wno-error=restrict"
                { cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPFORTE_TESTS=OFF \
                        -DCMAKE_CXX_FLAGS=-Wno-error=restrict &&
                  ninja -C "$BUILD_DIR" "$@"; } >>"$blog" 2>&1 || { tail -20 "$blog" >&2; log "build failed"; exit 1; }
            else
                tail -20 "$blog" >&2; log "build failed"; exit 1
            fi
        fi
        rm -f "$blog"
    fi
    for t in "$@"; do
        [ -x "$BUILD_DIR/$t" ] || { log "$BUILD_DIR/$t missing (build it or unset SKIP_BUILD)"; exit 1; }
    done
}

make_run_dir() {    # make_run_dir PREFIX -> RUN (RUN_DIR or a new mktemp -d) with a fresh cert
    if [ -z "${RUN_DIR:-}" ]; then RUN=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX"); else RUN=$RUN_DIR; mkdir -p "$RUN"; fi
    mkdir -p "$RUN/logs" "$RUN/raw" "$RUN/conf"
    chmod 755 "$RUN"      # nginx workers run as an unprivileged user
    log "run dir: $RUN"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$RUN/conf/key.pem" -out "$RUN/conf/cert.pem" -days 2 -subj /CN=localhost \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1 || { log "openssl req failed"; exit 1; }
}

env_head() {        # env_head COMMAND_TEXT: the first lines of env.txt
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command: $1"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- proxy modules CMakeLists.txt 2>/dev/null || echo ' + uncommitted changes in proxy/, modules/ or CMakeLists.txt')"
    echo "build: $BUILD_DIR (pforte built $(date -u -r "$BUILD_DIR/pforte" +%H:%M:%SZ), SKIP_BUILD=$SKIP_BUILD), $(grep -E '^CMAKE_BUILD_TYPE:' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | cut -d= -f2), CMAKE_CXX_FLAGS='$(grep -E '^CMAKE_CXX_FLAGS:' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | cut -d= -f2-)'"
    echo "loadavg at start: $(cut -d" " -f1-3 /proc/loadavg)"
    echo "host: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "openssl: $(openssl version)"
    echo "h2load: $(h2load --version 2>&1 | head -1)"
    echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
}

write_env() {       # write_env COMMAND_TEXT EXTRA_SETTINGS: RUN/env.txt (also on stderr), RUN/runs.tsv header
    {
        env_head "$1"
        for p in $PROXIES; do echo "$p: $(proxy_version "$p")"; done
        echo "origin: $BUILD_DIR/pforte-origin --listen 127.0.0.1:$ORIGIN_PORT --threads 1 --quiet ($([ -n "$ORIGIN_CPU" ] && echo "pinned to core $ORIGIN_CPU" || echo unpinned))"
        echo "settings: RUNS=$RUNS H2_DURATION=$H2_DURATION H2_WARMUP=$H2_WARMUP H2_CLIENTS=$H2_CLIENTS H2_STREAMS=$H2_STREAMS H2_TLS13_CIPHERS=${H2_TLS13_CIPHERS:-default} WRK_DURATION=$WRK_DURATION WRK_CONNS=$WRK_CONNS WARM_S=$WARM_S $2 SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU"
    } >"$RUN/env.txt"
    cat "$RUN/env.txt" >&2
    echo "$RUNS_HEADER" >"$RUN/runs.tsv"
}

start_origin() {    # pforte-origin on ORIGIN_PORT, 1 thread, on core ORIGIN_CPU or unpinned -> ORIGIN_PID
    local pin=()
    [ -n "$ORIGIN_CPU" ] && pin=(taskset -c "$ORIGIN_CPU")
    "${pin[@]}" "$BUILD_DIR/pforte-origin" --listen "127.0.0.1:$ORIGIN_PORT" --threads 1 --quiet >"$RUN/logs/origin.out" 2>&1 &
    ORIGIN_PID=$!
    STARTED+=("$ORIGIN_PID")
    wait_ports "$ORIGIN_PID" "$ORIGIN_PORT" || { log "origin did not start"; cat "$RUN/logs/origin.out" >&2; exit 1; }
}

origin_stats() {    # "requests connections" of the origin (the stats request itself is counted too)
    python3 "$BENCH/tools/ptstats.py" origin-stats "$(curl -s -m 5 "http://127.0.0.1:$ORIGIN_PORT/_origin/stats" 2>/dev/null)"
}

# ---------------------------------------------------------------- proxies
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

start_proxy() {     # start_proxy NAME TAG -> PID[NAME]
    local name=$1 out="$RUN/logs/$1.$2.out"
    ERR_FROM[$name]=$(nlines "$(errlog_of "$name")")
    launch_proxy "$name" "$out" || return 1
    PID[$name]=$!
    STARTED+=("$!")
    # shellcheck disable=SC2046
    if ! wait_ports "${PID[$name]}" $(proxy_ports "$name"); then
        log "$name did not come up (see $out):"
        tail -5 "$out" >&2
        stop_pid "${PID[$name]}"; PID[$name]=""
        return 1
    fi
}

stop_proxy() {      # stop_proxy NAME TAG
    [ -n "${PID[$1]:-}" ] || return 0
    report_errors "$1" "${2:-}"
    stop_pid "${PID[$1]}"; PID[$1]=""
}

record_memory() {   # RSS and VmHWM of each running proxy's serving process -> MEM_AFTER, MEM_HWM
    local p mp
    for p in $PROXIES; do
        [ -n "${PID[$p]:-}" ] || continue
        if kill -0 "${PID[$p]}" 2>/dev/null; then
            if declare -F serving_pid >/dev/null; then mp=$(serving_pid "$p"); else mp=$(main_pid "${PID[$p]}"); fi
            MEM_AFTER[$p]=$(status_kib "$mp" VmRSS); MEM_HWM[$p]=$(status_kib "$mp" VmHWM)
            log "  memory $p (pid $mp): RSS after load ${MEM_AFTER[$p]} KiB, VmHWM ${MEM_HWM[$p]} KiB"
        else
            log "  $p: PROCESS DIED before the end of the load (see $RUN/logs/$p.load.out)"
        fi
    done
}

# ---------------------------------------------------------------- load
RUNS_HEADER=$'proxy\ttest\trun\trps\tmean_ms\tmax_ms\tp50_ms\tp99_ms\tok\tnon2xx\terrors\torigin_req\torigin_conn\tcpu_srv_core\tcpu_cli_core\tproxy_cpu\torigin_cpu\twall_s'

load_command() {    # load_command h1|h2 DURATION URL -> LOAD (wrk, or h2load over TLS), TOOL
    if [ "$1" = h1 ]; then
        TOOL=wrk
        LOAD=(wrk -t1 -c"$WRK_CONNS" -d"${2}s" --latency "$3")
    else
        TOOL=h2load
        LOAD=(h2load -D "$2" --warm-up-time "$H2_WARMUP" -c "$H2_CLIENTS" -m "$H2_STREAMS")
        [ -n "$H2_TLS13_CIPHERS" ] && LOAD+=(--tls13-ciphers="$H2_TLS13_CIPHERS")
        LOAD+=("$3")
    fi
}

run_load() {        # run_load LIMIT_S OUT CMD...: the load generator on CLIENT_CPU, under timeout
    local limit=$1 out=$2 rc; shift 2
    timeout "$limit" taskset -c "$CLIENT_CPU" "$@" >>"$out" 2>&1 &
    LOADPID=$!; wait "$LOADPID"; rc=$?; LOADPID=""
    return $rc
}

run_one() {         # run_one PROXY TEST RUN#: one measured run, a line in RUN/runs.tsv
    local name=$1 t=$2 r=$3 dur limit raw rc
    if [ -z "${PID[$name]:-}" ] || ! kill -0 "${PID[$name]}" 2>/dev/null; then
        log "  $name $t run $r: PROCESS NOT RUNNING, skipped"
        printf '%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$name" "$t" "$r" >>"$RUN/runs.tsv"
        return
    fi
    if [ "${t:0:2}" = h1 ]; then dur=$WRK_DURATION; else dur=$H2_DURATION; fi
    limit=$(( dur + H2_WARMUP + 30 ))
    if [ "${t:0:2}" = h1 ] && [ "$WARM_S" != 0 ]; then
        build_load "$t" "$name" "$WARM_S"
        : >"$RUN/raw/$name.$t.run$r.warm.txt"
        run_load $(( WARM_S + 20 )) "$RUN/raw/$name.$t.run$r.warm.txt" "${LOAD[@]}"
    fi
    raw="$RUN/raw/$name.$t.run$r.txt"
    build_load "$t" "$name" "$dur"
    local o0 o1 c0 c1 s0 s1 g0 g1 t0 t1
    o0=$(origin_stats); c0=$(cpu_snap); s0=$(tree_cpu_ticks "${PID[$name]}"); g0=$(tree_cpu_ticks "$ORIGIN_PID"); t0=$(date +%s%N)
    echo "# ${LOAD[*]}" >"$raw"
    run_load "$limit" "$raw" "${LOAD[@]}"; rc=$?
    t1=$(date +%s%N); s1=$(tree_cpu_ticks "${PID[$name]}"); g1=$(tree_cpu_ticks "$ORIGIN_PID"); c1=$(cpu_snap); o1=$(origin_stats)
    [ $rc != 0 ] && echo "# exit status $rc" >>"$raw"
    declare -F after_load >/dev/null && after_load "$name" "$t" "$r" "$raw"
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

run_rotating() {    # run_rotating TESTS PROXY...: RUNS runs per test, the proxies' order rotating
    local tests=$1 t r k n; shift
    local live=("$@")
    n=${#live[@]}
    for t in $tests; do
        for r in $(seq 1 "$RUNS"); do
            for (( k=0; k<n; k++ )); do run_one "${live[$(( (k + r - 1) % n ))]}" "$t" "$r"; done
        done
    done
}
