"""Upstream pools: balancing, backups, retries of failed connects, timeouts and errors,
keep-alive towards the origin, and Upgrade tunnels."""
import contextlib
import http.client
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import harness


def dead_address():
    """An address on which nothing listens (connect is refused)."""
    return "127.0.0.1:%d" % harness.free_port()


class RawOrigin:
    """A hand-written origin on a raw socket: `handler(conn, head_bytes)` runs in a thread per
    connection after the request head has been read. Records every head it received."""

    def __init__(self, handler):
        self.handler = handler
        self.heads = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with contextlib.suppress(OSError):
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            self.heads.append(head)
            self.handler(conn, head)
        with contextlib.suppress(OSError):
            conn.close()

    def stop(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.close()


class Upstreams(unittest.TestCase):
    """Each test starts its own origins and pforte (the configs differ)."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="pforte-it-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name

    def origin(self):
        o = harness.Origin(self.workdir)
        self.addCleanup(o.stop)
        return o

    def raw_origin(self, handler):
        o = RawOrigin(handler)
        self.addCleanup(o.stop)
        return o

    def pforte(self, upstream, **kw):
        p = harness.Pforte(self.workdir, {"platform": upstream}, tls=False, **kw)
        self.addCleanup(p.stop)
        # Runs first: a crash is reported at the test that caused it.
        self.addCleanup(lambda: self.assertIsNone(p.proc.poll(), "pforte exited; error log:\n" +
                                                  p.error_text()[-2000:]))
        return p

    def get(self, proxy, path, *args, timeout=10):
        return harness.curl_status("--http1.1", *args, proxy.url(path), timeout=timeout)

    @staticmethod
    def static_count(origin):
        return origin.stats()["paths"]["static"]

    # --- balancing ---------------------------------------------------------------------------

    def test_round_robin_spreads_requests_over_both_servers(self):
        a, b = self.origin(), self.origin()
        proxy = self.pforte('servers = ["%s", "%s"]\nbalance = "round_robin"' % (a.address, b.address))
        for _ in range(20):
            status, _ = self.get(proxy, "/static/app.css")
            self.assertEqual(status, 200)
        ca, cb = self.static_count(a), self.static_count(b)
        self.assertEqual(ca + cb, 20)
        self.assertLessEqual(abs(ca - cb), 2, "a=%d b=%d" % (ca, cb))

    def start_slow_request(self, proxy, ms):
        proc = subprocess.Popen(["curl", "-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}",
                                 proxy.url("/slow?ms=%d" % ms)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.addCleanup(harness.end_client, proc)
        return proc

    def wait_for_slow_request_at(self, origins, timeout=5.0):
        """The origin whose /slow request is in progress (/slow counts as "other")."""
        # Each stats request counts as "other" too, itself included.
        calls = {id(o): 0 for o in origins}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = []
            for o in origins:
                calls[id(o)] += 1
                if o.stats()["paths"]["other"] > calls[id(o)]:
                    busy.append(o)
            if busy:
                self.assertEqual(len(busy), 1)
                return busy[0]
            time.sleep(0.02)
        self.fail("the slow request never reached an origin")

    def test_least_conn_avoids_the_server_busy_with_a_slow_request(self):
        a, b = self.origin(), self.origin()
        proxy = self.pforte('servers = ["%s", "%s"]\nbalance = "least_conn"' % (a.address, b.address))
        slow = self.start_slow_request(proxy, 3000)
        busy = self.wait_for_slow_request_at([a, b])
        idle = b if busy is a else a
        for _ in range(10):
            status, _ = self.get(proxy, "/static/app.css")
            self.assertEqual(status, 200)
        self.assertEqual(self.static_count(busy), 0)
        self.assertEqual(self.static_count(idle), 10)
        self.assertIsNone(slow.poll(), "the slow request should still be running")

    def test_round_robin_ignores_busy_servers(self):
        # The counterpart of the least_conn test: the setup distinguishes the two policies.
        a, b = self.origin(), self.origin()
        proxy = self.pforte('servers = ["%s", "%s"]\nbalance = "round_robin"' % (a.address, b.address))
        self.start_slow_request(proxy, 3000)
        busy = self.wait_for_slow_request_at([a, b])
        for _ in range(10):
            self.assertEqual(self.get(proxy, "/static/app.css")[0], 200)
        self.assertEqual(self.static_count(busy), 5)

    def test_backup_serves_when_the_primary_is_dead(self):
        live = self.origin()
        proxy = self.pforte('servers = ["%s"]\nbackup = ["%s"]' % (dead_address(), live.address))
        for _ in range(20):
            status, body = self.get(proxy, "/static/app.css")
            self.assertEqual(status, 200)
            self.assertEqual(len(body), 4096)
        self.assertEqual(self.static_count(live), 20)

    def test_backup_gets_nothing_while_the_primary_is_alive(self):
        primary, backup = self.origin(), self.origin()
        proxy = self.pforte('servers = ["%s"]\nbackup = ["%s"]' % (primary.address, backup.address))
        for _ in range(20):
            self.assertEqual(self.get(proxy, "/static/app.css")[0], 200)
        self.assertEqual(self.static_count(primary), 20)
        self.assertEqual(backup.stats()["requests"], 1)  # the stats request itself

    def metric(self, proxy, name, **labels):
        """A counter from the admin listener's /metrics (0 if absent)."""
        _, body = harness.curl_status(proxy.url("/metrics", admin=True))
        text = body.decode() if isinstance(body, bytes) else body
        want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(name + "{"):
                got = ",".join(sorted(line[len(name) + 1:line.index("}")].split(",")))
                if got == want:
                    return float(line.rsplit(" ", 1)[1])
        return 0

    def test_get_whose_connect_fails_is_retried_on_the_other_server(self):
        live = self.origin()
        proxy = self.pforte('servers = ["%s", "%s"]\nbalance = "round_robin"'
                            % (dead_address(), live.address), admin=True)
        codes = [self.get(proxy, "/static/app.css")[0] for _ in range(50)]
        self.assertEqual(codes, [200] * 50)
        self.assertEqual(self.static_count(live), 50)
        self.assertIn("platform", proxy.access_lines(wait_for=50)[-1]["upstream"])
        # The retries are counted: at least the first GET's; the dead server is then left out.
        self.assertGreaterEqual(
            self.metric(proxy, "pforte_upstream_retries_total", upstream="platform",
                        reason="connect"), 1)
        self.assertEqual(self.metric(proxy, "pforte_upstream_retries_refused_total",
                                     upstream="platform"), 0)

    def test_a_failed_connect_with_no_other_server_spends_no_retry(self):
        proxy = self.pforte('servers = ["%s"]' % dead_address(), admin=True)
        for _ in range(5):
            self.assertEqual(self.get(proxy, "/static/app.css")[0], 502)
        self.assertEqual(self.metric(proxy, "pforte_upstream_retries_total", upstream="platform",
                                     reason="connect"), 0)
        self.assertEqual(self.metric(proxy, "pforte_upstream_retries_refused_total",
                                     upstream="platform"), 0)

    # --- failures ----------------------------------------------------------------------------

    def test_connect_refused_everywhere_gives_502_quickly(self):
        proxy = self.pforte('servers = ["%s", "%s"]\nbackup = ["%s"]'
                            % (dead_address(), dead_address(), dead_address()))
        for _ in range(3):
            start = time.monotonic()
            status, _ = self.get(proxy, "/static/app.css")
            elapsed = time.monotonic() - start
            self.assertEqual(status, 502)
            self.assertLess(elapsed, 1.0)
        line = proxy.access_lines(wait_for=3)[-1]
        self.assertEqual(line["status"], 502)

    def test_response_timeout_gives_504(self):
        o = self.origin()
        proxy = self.pforte('servers = ["%s"]\nresponse_timeout = "500ms"' % o.address)
        for proto in ["--http1.1", "--http2-prior-knowledge"]:
            with self.subTest(proto=proto):
                start = time.monotonic()
                status, _ = harness.curl_status(proto, proxy.url("/hang"), timeout=4)
                elapsed = time.monotonic() - start
                self.assertEqual(status, 504)
                self.assertGreaterEqual(elapsed, 0.45)
                self.assertLess(elapsed, 1.5)
        # A slow answer within the timeout still gets through.
        self.assertEqual(self.get(proxy, "/slow?ms=200")[0], 200)

    @staticmethod
    def close_mid_body(chunked):
        def handler(conn, head):
            if chunked:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" + b"3e8\r\n" + b"x" * 1000 + b"\r\n")
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: 100000\r\n\r\n" + b"x" * 1000)
            time.sleep(0.2)
            conn.close()
        return handler

    def test_origin_closing_mid_body_is_not_a_complete_response(self):
        for chunked in [False, True]:
            origin = self.raw_origin(self.close_mid_body(chunked))
            proxy = self.pforte('servers = ["%s"]' % origin.address)
            for proto in ["--http1.1", "--http2-prior-knowledge"]:
                with self.subTest(chunked=chunked, proto=proto):
                    r = harness.curl(proto, "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                                     proxy.url("/bytes/100000"), timeout=10)
                    self.assertNotEqual(r.returncode, 0,
                                        "a truncated body arrived as a complete response: %s"
                                        % r.stdout)
                    code, size = r.stdout.decode().split()
                    self.assertLess(int(size), 100000)
            # The proxy itself survives it.
            self.assertIsNone(proxy.proc.poll())

    def test_origin_closing_mid_body_on_a_raw_h1_connection(self):
        origin = self.raw_origin(self.close_mid_body(True))
        proxy = self.pforte('servers = ["%s"]' % origin.address)
        raw = harness.raw_request(proxy.http, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n", read_timeout=5)
        self.assertIn(b" 200 ", raw.split(b"\r\n", 1)[0])
        self.assertNotIn(b"\r\n0\r\n\r\n", raw, "the truncated chunked body was terminated cleanly")

    # --- retries -----------------------------------------------------------------------------

    def test_a_server_killed_mid_load_costs_no_get(self):
        a, b = self.origin(), self.origin()
        proxy = self.pforte('servers = ["%s", "%s"]\nbalance = "round_robin"'
                            % (a.address, b.address))
        statuses = []
        stop = threading.Event()

        def load():
            while not stop.is_set():
                statuses.append(self.get(proxy, "/slow?ms=30")[0])

        threads = [threading.Thread(target=load) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        a.proc.kill()  # mid-load: requests in flight on it, idle keep-alive connections to it
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join()
        self.assertGreater(len(statuses), 60)
        self.assertEqual([s for s in statuses if s != 200], [])

    def test_a_server_that_accepts_but_never_answers_is_routed_around(self):
        hung = self.raw_origin(lambda conn, head: time.sleep(8))
        live = self.origin()
        proxy = self.pforte('servers = ["%s", "%s"]\nbalance = "round_robin"\n'
                            'response_timeout = "300ms"' % (hung.address, live.address))
        times = []
        for _ in range(30):
            start = time.monotonic()
            self.assertEqual(self.get(proxy, "/static/app.css")[0], 200)
            times.append(time.monotonic() - start)
        # Each GET the hung server took cost one response_timeout, then went to the live one;
        # after three in a row it got no requests for a second, and then one more miss took it
        # out for two (a slow run is still within those three seconds).
        self.assertLessEqual(max(times), 0.3 + 0.5)
        self.assertLessEqual(len(hung.heads), 4)
        self.assertEqual(self.static_count(live), 30)

    def test_a_total_outage_costs_the_servers_a_few_attempts_a_second(self):
        # Both servers take each request and close without answering. Each GET is retried on the
        # other server (within the budget: 20% of the requests plus 3/s), and after three misses
        # in a row a server is not tried at all for a second, not even as the last try: the
        # outage is answered with 502 at once instead of costing every request two attempts.
        closers = [self.raw_origin(lambda conn, head: None) for _ in range(2)]
        proxy = self.pforte('servers = ["%s", "%s"]\nbalance = "round_robin"'
                            % tuple(c.address for c in closers), admin=True)
        n = 300
        start = time.monotonic()
        for _ in range(n):
            conn = http.client.HTTPConnection("127.0.0.1", proxy.http, timeout=10)
            conn.request("GET", "/static/app.css")
            self.assertEqual(conn.getresponse().status, 502)
            conn.close()
        elapsed = time.monotonic() - start
        attempts = sum(len(c.heads) for c in closers)
        self.assertGreaterEqual(attempts, 6)  # the first GETs went to both servers
        # Per second at most three misses per server, each with at most one retry.
        self.assertLessEqual(attempts, 12 * (int(elapsed) + 1))
        self.assertLessEqual(attempts, n + n // 5 + 30 + 3)  # and never beyond the budget
        retried = self.metric(proxy, "pforte_upstream_retries_total", upstream="platform",
                              reason="other_server")
        self.assertGreaterEqual(retried, 1)
        self.assertLessEqual(retried, attempts - 1)

    # --- connections to the origin -----------------------------------------------------------

    def test_keep_alive_to_the_origin_over_one_h1_client_connection(self):
        o = self.origin()
        proxy = self.pforte('servers = ["%s"]' % o.address)
        before = o.stats()["connections"]
        with socket.create_connection(("127.0.0.1", proxy.http), timeout=5) as s:
            f = s.makefile("rb")
            for _ in range(100):
                s.sendall(b"GET /static/app.css HTTP/1.1\r\nHost: t\r\n\r\n")
                status = f.readline()
                self.assertIn(b" 200 ", status)
                length = 0
                while True:
                    line = f.readline()
                    if line == b"\r\n":
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.assertEqual(len(f.read(length)), 4096)
        stats = o.stats()
        self.assertEqual(stats["paths"]["static"], 100)
        # Minus the second stats request's own connection.
        self.assertLessEqual(stats["connections"] - before - 1, 3, stats)

    def test_keep_alive_to_the_origin_across_h1_client_connections(self):
        o = self.origin()
        proxy = self.pforte('servers = ["%s"]' % o.address)
        before = o.stats()["connections"]
        r = subprocess.run(["h2load", "--h1", "-n", "100", "-c", "1", "-m", "1",
                            proxy.url("/static/app.css")], capture_output=True, timeout=30)
        self.assertIn(b"100 succeeded", r.stdout)
        for _ in range(20):
            self.assertEqual(self.get(proxy, "/static/app.css")[0], 200)
        stats = o.stats()
        self.assertEqual(stats["paths"]["static"], 120)
        self.assertLessEqual(stats["connections"] - before - 1, 3, stats)

    def test_keep_alive_to_the_origin_for_h2_clients(self):
        o = self.origin()
        proxy = self.pforte('servers = ["%s"]' % o.address)
        before = o.stats()["connections"]
        r = subprocess.run(["h2load", "-n", "100", "-c", "1", "-m", "1", proxy.url("/static/app.css")],
                           capture_output=True, timeout=30)
        self.assertIn(b"100 succeeded", r.stdout)
        stats = o.stats()
        self.assertEqual(stats["paths"]["static"], 100)
        self.assertLessEqual(stats["connections"] - before - 1, 3, stats)

    def test_a_response_delimited_by_the_origin_closing_arrives_whole(self):
        # No Content-Length, no chunking: the body ends where the origin closes (RFC 9112 6.3).
        # 100,000 bytes take several reads; the last one finds the end of the stream.
        body = bytes((i * 7) % 251 for i in range(100_000))

        def answer_and_close(conn, head):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Connection: close\r\n\r\n")
            for i in range(0, len(body), 30_000):
                conn.sendall(body[i:i + 30_000])
                time.sleep(0.02)

        o = self.raw_origin(answer_and_close)
        proxy = self.pforte('servers = ["%s"]' % o.address)
        for flag in ("--http1.1", "--http2-prior-knowledge"):
            r = harness.curl("-o", "-", "-w", "\n%{http_code}", flag, proxy.url("/stream"),
                             timeout=10)
            got, _, status = r.stdout.rpartition(b"\n")
            # A complete response: curl saw its proper end (the last chunk, END_STREAM), not a
            # connection closed or a stream reset after the last byte.
            self.assertEqual(r.returncode, 0, (flag, r.stderr))
            self.assertEqual(status, b"200", flag)
            self.assertEqual(len(got), len(body), flag)
            self.assertTrue(got == body, flag)
        self.assertEqual(len(o.heads), 2)

    def test_an_idle_connection_the_origin_closes_is_dropped_from_the_pool(self):
        # The origin answers with keep-alive and closes the connection 0.2 s later. pforte sees
        # the close on the idle connection and drops it, so the next GET opens a new connection
        # at once instead of finding the dead one and sending again (a stale_connection retry).
        def answer_then_close(conn, head):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            time.sleep(0.2)

        o = self.raw_origin(answer_then_close)
        proxy = self.pforte('servers = ["%s"]' % o.address, admin=True)
        for _ in range(3):
            status, body = self.get(proxy, "/x")
            self.assertEqual((status, body), (200, b"ok"))
            time.sleep(0.6)
        self.assertEqual(len(o.heads), 3)
        self.assertEqual(len(o.conns), 3)
        self.assertEqual(self.metric(proxy, "pforte_upstream_retries_total", upstream="platform",
                                     reason="stale_connection"), 0)

    def test_an_idle_connection_to_the_origin_is_closed_after_the_upstream_idle_timeout(self):
        closed_after = []

        def answer_then_wait_for_close(conn, head):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            start = time.monotonic()
            if conn.recv(1) == b"":
                closed_after.append(time.monotonic() - start)

        o = self.raw_origin(answer_then_wait_for_close)
        proxy = self.pforte('servers = ["%s"]\nidle_timeout = "300ms"' % o.address)
        self.assertEqual(self.get(proxy, "/x"), (200, b"ok"))
        deadline = time.monotonic() + 5
        while not closed_after and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(closed_after), 1)
        self.assertGreaterEqual(closed_after[0], 0.25)
        self.assertLess(closed_after[0], 2.0)

    def test_upgrade_tunnels_bytes_both_ways(self):
        def ws_handler(conn, head):
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: dummy\r\n\r\nhello from origin")
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

        origin = self.raw_origin(ws_handler)
        proxy = self.pforte('servers = ["%s"]' % origin.address)
        with socket.create_connection(("127.0.0.1", proxy.http), timeout=5) as s:
            s.sendall(b"GET /chat HTTP/1.1\r\nHost: chat.example\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n")
            got = b""
            while b"\r\n\r\n" not in got or not got.endswith(b"hello from origin"):
                data = s.recv(65536)
                self.assertTrue(data, "closed early: %r" % got)
                got += data
            head, _, rest = got.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
            self.assertIn(b"upgrade: websocket", head.lower())
            self.assertEqual(rest, b"hello from origin")
            for message in [b"ping-1", b"\x00\xff" * 5, bytes(range(256)) * 400]:
                s.sendall(message)
                echoed = b""
                while len(echoed) < len(message):
                    data = s.recv(65536)
                    self.assertTrue(data)
                    echoed += data
                self.assertEqual(echoed, message)
        origin_head = origin.heads[0].lower()
        self.assertIn(b"upgrade: websocket", origin_head)
        self.assertIn(b"connection: upgrade", origin_head)
        self.assertIn(b"sec-websocket-key: dghlihnhbxbszsbub25jzq==", origin_head)


if __name__ == "__main__":
    harness.main()
