#!/usr/bin/env bash
# The demo: installs what is missing, builds, starts the origin simulator (platform and blog) and
# pforte with conf/demo.toml, prints the URL, and stops both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Only the two programs the demo runs; the tree stays configured for scripts/test.sh.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target pforte pforte-origin

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The waiting room's HMAC key (conf/demo.toml names it).
if [ ! -s /tmp/pforte-demo/waiting-room.key ]; then
  mkdir -p -m 700 /tmp/pforte-demo
  (umask 077 && openssl rand -hex 32 > /tmp/pforte-demo/waiting-room.key)
fi
build/pforte -t -c conf/demo.toml
build/pforte-origin --listen 127.0.0.1:8081 --listen 127.0.0.1:8082 --quiet &
pids+=($!)
build/pforte -c conf/demo.toml &
pids+=($!)
for _ in $(seq 50); do
  curl -s -o /dev/null http://127.0.0.1:8080/health && break
  sleep 0.1
done
cat <<MSG

  pforte demo is running.
    Open:           http://127.0.0.1:8080/
    A static asset: curl -i http://127.0.0.1:8080/static/app.css
    HTTP/2 (h2c):   curl --http2-prior-knowledge -i http://127.0.0.1:8080/
    Waiting room:   reload http://127.0.0.1:8080/login a few times (1 visitor/s are let in), or
                    for i in \$(seq 10); do curl -s -H 'Accept: application/json' http://127.0.0.1:8080/login; echo; done
    Status page:    http://127.0.0.1:9901/status   (metrics: http://127.0.0.1:9901/metrics)
    Make the blog slow: curl -X POST 'http://127.0.0.1:8082/_origin/blog?mode=slow&delay_ms=3000'
  Press Ctrl-C to stop.

MSG
wait
