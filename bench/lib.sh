# shellcheck shell=bash
# bench/lib.sh - shell functions shared by the bench/*.sh scripts (sourced, not run).
# Kept small on purpose: process bookkeeping (every process started is stopped by its PID),
# ports, the MAX_TOTAL_S watchdog, installing missing Debian packages and the Release build.
# The sourcing script sets T_START, MAX_TOTAL_S, SKIP_INSTALL, BUILD_DIR and ROOT first and adds
# every PID it starts to STARTED; LOADPID is the load generator running now ("" if none).

STARTED=()
LOADPID=""
WATCHDOG=""

log() { printf '[%4ds] %s\n' "$(( $(date +%s) - T_START ))" "$*" >&2; }
elapsed() { echo $(( $(date +%s) - T_START )); }

descendants() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}
tree_pids() { echo "$1"; descendants "$1"; }
tree_cpu_ticks() {  # user+system jiffies of PID $1 and its descendants
    local t=0 p v
    for p in $(tree_pids "$1"); do v=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null) && t=$((t + v)); done
    echo $t
}

stop_pid() {        # stop PID $1 and whatever it spawned, each by its own PID
    local pid=$1 kids i k alive still
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kids=$(descendants "$pid")
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    for i in 1 2 3 4 5 6; do
        alive=""
        for k in $kids; do kill -0 "$k" 2>/dev/null && alive="$alive $k"; done
        [ -z "$alive" ] && return 0
        sleep 0.2
    done
    for k in $alive; do kill -TERM "$k" 2>/dev/null; done
    for i in $(seq 1 10); do
        still=""
        for k in $alive; do kill -0 "$k" 2>/dev/null && still="$still $k"; done
        [ -z "$still" ] && return 0
        sleep 0.2
    done
    for k in $still; do kill -KILL "$k" 2>/dev/null; done
    return 0
}

cleanup() {
    local i
    trap - EXIT INT TERM
    [ -n "$LOADPID" ] && kill -TERM "$LOADPID" 2>/dev/null
    for (( i=${#STARTED[@]}-1; i>=0; i-- )); do stop_pid "${STARTED[$i]}"; done
    [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
    [ -n "${RUN:-}" ] && log "run dir: $RUN"
}
on_signal() { log "interrupted (signal or MAX_TOTAL_S=$MAX_TOTAL_S): stopping what was started"; cleanup; exit 130; }

start_watchdog() {  # traps, and TERM to this shell after MAX_TOTAL_S
    trap on_signal INT TERM
    trap cleanup EXIT
    local main_pid=$$
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

install_missing() { # install_missing command:package... ; as root, never starting services
    local c p missing=()
    for c in "$@"; do command -v "${c%%:*}" >/dev/null 2>&1 || missing+=("${c#*:}"); done
    [ ${#missing[@]} -gt 0 ] || return 0
    if [ "$SKIP_INSTALL" = 1 ] || [ "$(id -u)" != 0 ]; then
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

build_bench() {     # Release build of pforte and pforte-origin into BUILD_DIR; fails loudly
    local blog
    log "building pforte and pforte-origin (Release) in $BUILD_DIR"
    blog=$(mktemp)
    if ! { cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPFORTE_TESTS=OFF &&
           ninja -C "$BUILD_DIR" pforte pforte-origin; } >"$blog" 2>&1; then
        if grep -q -- '-Werror=restrict' "$blog"; then
            # g++ 12 reports a false -Wrestrict inside std::string at -O3 (GCC bug 105329);
            # -Werror turns it into a failure. Keep the warning, not the error.
            log "Release build failed on g++ 12's false -Wrestrict; retrying with -Wno-error=restrict"
            { cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPFORTE_TESTS=OFF \
                    -DCMAKE_CXX_FLAGS=-Wno-error=restrict &&
              ninja -C "$BUILD_DIR" pforte pforte-origin; } >>"$blog" 2>&1 || { tail -20 "$blog" >&2; log "build failed"; rm -f "$blog"; return 1; }
        else
            tail -20 "$blog" >&2; log "build failed"; rm -f "$blog"; return 1
        fi
    fi
    rm -f "$blog"
}
