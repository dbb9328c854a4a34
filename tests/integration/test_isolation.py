"""Isolation: ESI fragments that survive a slow, hung or dead blog; bulkheads; circuit breakers;
active health checks. Real pforte, real origin simulator, real clients (curl, h2load)."""
import contextlib
import json
import re
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import harness

TIMEOUT = 0.2  # the fragment timeout of the configs below
# A loaded CI machine may add scheduling delay; the pages must still end close to the timeout.
MARGIN = 0.25
ESI_MARKUP = re.compile(rb"<\s*/?\s*esi:|<!--esi", re.I)


class PageOrigin:
    """A tiny origin on a raw socket that serves `pages` ({path: [body parts]}) as text/html,
    sending the parts with a pause between them, so pforte reads them as separate pieces."""

    def __init__(self, pages, pause=0.03):
        self.pages = pages
        self.pause = pause
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with contextlib.suppress(OSError), conn:
            conn.settimeout(10)
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head, _, data = data.partition(b"\r\n\r\n")
                path = head.split(b" ")[1].decode()
                parts = self.pages.get(path)
                if parts is None:
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    continue
                body = b"".join(parts)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n"
                             b"etag: \"template\"\r\ncontent-length: %d\r\n\r\n" % len(body))
                for i, part in enumerate(parts):
                    if i:
                        time.sleep(self.pause)
                    conn.sendall(part)

    def stop(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class IsolationTestCase(unittest.TestCase):
    """Each test starts its own origin(s) and pforte: the last good copies, bulkhead counters and
    breakers must start empty."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="pforte-it-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name

    def origin(self, *args):
        o = harness.Origin(self.workdir, extra_args=args)
        self.addCleanup(o.stop)
        return o

    def pforte(self, upstreams, routes, **kw):
        p = harness.Pforte(self.workdir, upstreams, routes, tls=False, **kw)
        self.addCleanup(p.stop)
        # Runs first: a crash is reported at the test that caused it.
        self.addCleanup(lambda: self.assertIsNone(p.proc.poll(), "pforte exited; error log:\n" +
                                                  p.error_text()[-2000:]))
        return p

    def timed_get(self, url, *args):
        """(status, headers text, body, total seconds, seconds to the first byte)."""
        r = harness.curl("-D", "-", "-o", "-", "-w",
                         "\n%{http_code} %{time_total} %{time_starttransfer}", *args, url)
        out, _, stats = r.stdout.rpartition(b"\n")
        code, total, first = stats.split()
        head, _, body = out.partition(b"\r\n\r\n")
        return int(code), head.decode(errors="replace").lower(), body, float(total), float(first)


def upstream_requests(metrics_text, upstream, outcome):
    """pforte_upstream_requests_total{upstream,outcome} from /metrics text (0 if absent)."""
    m = re.search(r'^pforte_upstream_requests_total\{upstream="%s",outcome="%s"\} (\d+)$'
                  % (re.escape(upstream), re.escape(outcome)), metrics_text, re.M)
    return int(m.group(1)) if m else 0


class Fragments(IsolationTestCase):
    def start(self, blog_mode="healthy", timeout="200ms", blog_extra="", admin=False):
        self.o = self.origin("--blog-mode", blog_mode, "--blog-delay-ms", "3000")
        upstreams = {
            "platform": 'servers = ["%s"]' % self.o.address,
            "blog": 'servers = ["%s"]\nresponse_timeout = "5s"\n%s' % (self.o.address, blog_extra),
        }
        routes = [
            'path_prefix = "/news/"\nupstream = "blog"',
            'path_prefix = "/"\nupstream = "platform"\nfragments = { enabled = true, timeout = "%s" }'
            % timeout,
        ]
        self.proxy = self.pforte(upstreams, routes, admin=admin)

    def home(self, *args):
        return self.timed_get(self.proxy.url("/"), "--http1.1", *args)

    def assert_composed(self, body):
        self.assertIsNone(ESI_MARKUP.search(body), body[-600:])
        self.assertIn(b"<footer>pforte-origin</footer>", body)
        self.assertTrue(body.endswith(b"</html>\n"))

    def test_healthy_blog_is_included_without_markup(self):
        self.start()
        status, head, body, total, _ = self.home()
        self.assertEqual(status, 200)
        self.assert_composed(body)
        self.assertIn(b'<ul class="news">\n<li>News #1', body)
        self.assertNotIn("etag:", head)
        self.assertIn("transfer-encoding: chunked", head)
        self.assertLess(total, TIMEOUT)

    def test_includes_reuse_kept_alive_connections_to_the_blog(self):
        self.start()
        for _ in range(20):
            self.assertIn(b"<ul class=\"news\">\n<li>News #", self.home()[2])
        stats = self.o.stats()
        self.assertEqual(stats["news_served"], 20)
        # One origin serves both upstreams: the platform and the blog each keep one connection
        # (plus the stats request's own), not one per include.
        self.assertLessEqual(stats["connections"], 4)

    def test_page_is_composed_over_h2_too(self):
        self.start()
        r = harness.curl("--http2-prior-knowledge", self.proxy.url("/"))
        self.assert_composed(r.stdout)
        self.assertIn(b'<ul class="news">', r.stdout)

    def test_slow_blog_costs_the_page_its_timeout_and_shows_the_last_good_copy(self):
        self.start()
        self.assertIn(b"News #1", self.home()[2])
        self.o.set_blog("slow", 3000)
        for _ in range(2):
            status, _, body, total, first = self.home()
            self.assertEqual(status, 200)
            self.assert_composed(body)
            self.assertIn(b"News #1", body)  # the last good copy
            self.assertGreaterEqual(total, TIMEOUT - 0.01)
            self.assertLess(total, TIMEOUT + MARGIN)
            # The page streamed up to the include at once.
            self.assertLess(first, TIMEOUT / 2)

    def test_slow_blog_without_a_copy_shows_the_alt_in_time(self):
        self.start("slow")
        status, _, body, total, _ = self.home()
        self.assertEqual(status, 200)
        self.assert_composed(body)
        self.assertIn(b'<ul class="news fallback">', body)
        self.assertLess(total, TIMEOUT + MARGIN)

    def test_hung_blog_costs_the_page_its_timeout(self):
        self.start()
        self.home()
        self.o.set_blog("hung")
        status, _, body, total, _ = self.home()
        self.assertEqual(status, 200)
        self.assert_composed(body)
        self.assertIn(b"News #1", body)
        self.assertGreaterEqual(total, TIMEOUT - 0.01)
        self.assertLess(total, TIMEOUT + MARGIN)

    def test_includes_late_for_a_hung_blog_open_its_breaker_and_pages_stop_waiting(self):
        # The blog is reached only through includes, which give up at the fragment timeout
        # (5 s before its response_timeout): those abandoned requests are its failures.
        self.start(blog_extra='circuit_breaker = { failure_ratio = 0.5, min_requests = 4, '
                              'window = "10s", open_for = "10s" }', admin=True)
        self.assertIn(b"News #1", self.home()[2])
        self.o.set_blog("hung")
        state = None
        for _ in range(8):
            status, _, body, total, _ = self.home()
            self.assertEqual(status, 200)
            self.assertIn(b"News #1", body)
            _, status_json = harness.curl_status(self.proxy.url("/status.json", admin=True))
            blog = [u for u in json.loads(status_json)["modules"]["isolation"]["upstreams"]
                    if u["name"] == "blog"][0]
            state = blog["circuit"]["state"]
            if state == "open":
                break
        self.assertEqual(state, "open")
        _, metrics = harness.curl_status(self.proxy.url("/metrics", admin=True))
        text = metrics.decode()
        self.assertIn('pforte_circuit_open{upstream="blog"} 1', text)
        self.assertGreaterEqual(upstream_requests(text, "blog", "abandoned"), 3, text)
        # Open: includes fail fast, so pages take the last good copy at once.
        for _ in range(3):
            status, _, body, total, _ = self.home()
            self.assertEqual(status, 200)
            self.assert_composed(body)
            self.assertIn(b"News #1", body)
            self.assertNotIn(b"fallback", body)
            self.assertLess(total, TIMEOUT / 2)
        _, metrics = harness.curl_status(self.proxy.url("/metrics", admin=True))
        self.assertGreaterEqual(upstream_requests(metrics.decode(), "blog", "breaker_open"), 3)

    def test_clients_that_leave_a_hung_blog_early_are_counted_but_do_not_open_its_breaker(self):
        self.start(blog_extra='circuit_breaker = { failure_ratio = 0.5, min_requests = 2, '
                              'window = "10s", open_for = "10s" }', admin=True)
        self.o.set_blog("hung")
        for _ in range(3):
            harness.curl("--http1.1", self.proxy.url("/news/latest"), timeout=0.3)
        deadline = time.monotonic() + 2
        while True:  # pforte learns of the client leaving a moment after curl gives up
            _, metrics = harness.curl_status(self.proxy.url("/metrics", admin=True))
            text = metrics.decode()
            if upstream_requests(text, "blog", "client_left") >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(upstream_requests(text, "blog", "client_left"), 3, text)
        self.assertEqual(upstream_requests(text, "blog", "abandoned"), 0)
        self.assertIn('pforte_circuit_open{upstream="blog"} 0', text)

    def test_dead_blog_shows_the_alt_at_once(self):
        self.start("dead")
        status, _, body, total, _ = self.home()
        self.assertEqual(status, 200)
        self.assert_composed(body)
        self.assertIn(b'<ul class="news fallback">', body)
        self.assertLess(total, TIMEOUT)  # connection refused: nothing to wait for

    def test_dead_blog_after_a_success_shows_the_last_good_copy(self):
        self.start()
        self.home()
        self.o.set_blog("dead")
        status, _, body, total, _ = self.home()
        self.assert_composed(body)
        self.assertIn(b"News #1", body)
        self.assertNotIn(b"fallback", body)
        self.assertLess(total, TIMEOUT)

    def test_many_concurrent_pages_with_a_slow_blog_all_end_in_time(self):
        self.start()
        self.home()
        self.o.set_blog("slow", 3000)
        start = time.monotonic()
        r = subprocess.run(["h2load", "-n", "40", "-c", "10", "-m", "2", self.proxy.url("/")],
                           capture_output=True, timeout=30)
        elapsed = time.monotonic() - start
        self.assertIn(b"40 succeeded", r.stdout, r.stdout.decode())
        # 40 pages, 20 at a time: two rounds of one timeout each, plus slack.
        self.assertLess(elapsed, 2 * TIMEOUT + 1.0)


class FragmentMarkup(IsolationTestCase):
    """Pages from a hand-written origin: markup cut across pieces, several includes, nesting."""

    def start(self, pages):
        self.o = self.origin()
        pages_origin = PageOrigin(pages)
        self.addCleanup(pages_origin.stop)
        upstreams = {
            "pages": 'servers = ["%s"]' % pages_origin.address,
            "platform": 'servers = ["%s"]' % self.o.address,
        }
        routes = [
            'path_prefix = "/page/"\nupstream = "pages"\nfragments = { enabled = true, timeout = "400ms" }',
            'path_prefix = "/"\nupstream = "platform"',
        ]
        self.proxy = self.pforte(upstreams, routes)

    def test_markup_cut_across_pieces_never_leaks(self):
        self.start({"/page/split": [
            b"<p>a</p><es", b"i:include src=\"/news/latest\"/><p>b</p><!--e", b"si <i>shown</i> -->",
            b"<esi:rem", b"ove>secret</esi:re", b"move><p>c</p><esi:include src=\"/news/lat",
            b"est\" alt=\"/news/fallback\"/", b"><p>end</p>"]})
        status, body = harness.curl_status("--http1.1", self.proxy.url("/page/split"))
        self.assertEqual(status, 200)
        self.assertIsNone(ESI_MARKUP.search(body), body)
        self.assertNotIn(b"secret", body)
        self.assertIn(b"<i>shown</i>", body)
        self.assertEqual(body.count(b'<ul class="news">'), 2)
        self.assertTrue(body.startswith(b"<p>a</p><ul"))
        self.assertTrue(body.endswith(b"</ul>\n<p>end</p>"))

    def test_includes_of_a_page_are_fetched_in_parallel(self):
        self.start({"/page/three": [
            b"<p>1</p><esi:include src=\"/slow?ms=250\"/><p>2</p><esi:include src=\"/slow?ms=250\"/>",
            b"<p>3</p><esi:include src=\"/slow?ms=250\"/><p>4</p>"]})
        start = time.monotonic()
        status, body = harness.curl_status("--http1.1", self.proxy.url("/page/three"))
        elapsed = time.monotonic() - start
        self.assertEqual(status, 200)
        self.assertEqual(body.count(b"slow reply"), 3)
        self.assertTrue(body.endswith(b"<p>4</p>"))
        self.assertLess(elapsed, 0.25 * 2)  # serial would take 0.75 s

    def test_nesting_is_bounded(self):
        self.start({"/page/nested": [b"<b>level</b><esi:include src=\"/page/nested\"/>"]})
        status, body = harness.curl_status("--http1.1", self.proxy.url("/page/nested"))
        self.assertEqual(status, 200)
        self.assertIsNone(ESI_MARKUP.search(body))
        self.assertEqual(body, b"<b>level</b>" * 4)  # the page and three levels of includes


def set_health(origin, status):
    """Makes the origin's GET /health answer `status`."""
    req = urllib.request.Request(origin.url("/_origin/health?status=%d" % status), method="POST",
                                 data=b"")
    urllib.request.urlopen(req, timeout=5).read()


def start_curl(url, *args):
    """A curl in the background; .communicate() gives b"<code> <seconds>"."""
    return subprocess.Popen(["curl", "-sS", "--http1.1", "-o", "/dev/null", "-w",
                             "%{http_code} %{time_total}"] + list(args) + [url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class Bulkheads(IsolationTestCase):
    def start(self, platform_limits):
        self.o = self.origin()
        self.other = self.origin()
        upstreams = {
            "platform": 'servers = ["%s"]\n%s' % (self.o.address, platform_limits),
            "assets": 'servers = ["%s"]\nmax_connections = 2\nmax_pending = 0' % self.other.address,
        }
        routes = ['path_prefix = "/static/"\nupstream = "assets"',
                  'path_prefix = "/"\nupstream = "platform"']
        self.proxy = self.pforte(upstreams, routes, admin=True)

    def in_flight(self, key="in_flight"):
        _, status = harness.curl_status(self.proxy.url("/status.json", admin=True))
        ups = json.loads(status)["modules"]["isolation"]["upstreams"]
        return next(u[key] for u in ups if u["name"] == "platform")

    def busy(self, n, ms):
        """Starts n slow requests and waits until pforte counts them in flight."""
        procs = [start_curl(self.proxy.url("/slow?ms=%d" % ms)) for _ in range(n)]
        for p in procs:
            self.addCleanup(harness.end_client, p)
        deadline = time.monotonic() + 5
        while self.in_flight() < n:
            self.assertLess(time.monotonic(), deadline, "the slow requests did not start")
            time.sleep(0.01)
        return procs

    def test_full_bulkhead_answers_503_at_once_and_other_upstreams_are_unaffected(self):
        self.start("max_connections = 2\nmax_pending = 0")
        slow = self.busy(2, 1500)
        code, head, body, total, _ = self.timed_get(self.proxy.url("/headers"), "--http1.1")
        self.assertEqual(code, 503)
        self.assertIn("retry-after: 1", head)
        self.assertLess(total, 0.2)
        # Another upstream behind the same pforte still answers at once.
        code, _, body, total, _ = self.timed_get(self.proxy.url("/static/app.css"), "--http1.1")
        self.assertEqual(code, 200)
        self.assertEqual(len(body), 4096)
        self.assertLess(total, 0.2)
        for p in slow:
            out, _ = p.communicate(timeout=10)
            self.assertTrue(out.startswith(b"200"), out)
        # Places are given back: the upstream serves again.
        self.assertEqual(harness.curl_status("--http1.1", self.proxy.url("/headers"))[0], 200)

    def test_a_pending_request_waits_for_a_place_and_the_next_is_refused(self):
        self.start('max_connections = 1\nmax_pending = 1\nconnect_timeout = "3s"')
        slow = self.busy(1, 600)
        waiting = start_curl(self.proxy.url("/headers"))
        self.addCleanup(harness.end_client, waiting)
        deadline = time.monotonic() + 5
        while self.in_flight("pending") < 1:
            self.assertLess(time.monotonic(), deadline, "the request did not start waiting")
            time.sleep(0.01)
        code, head, _, total, _ = self.timed_get(self.proxy.url("/headers"), "--http1.1")
        self.assertEqual(code, 503)
        self.assertLess(total, 0.2)
        out, _ = waiting.communicate(timeout=10)
        code, seconds = out.split()
        self.assertEqual(code, b"200")
        self.assertGreater(float(seconds), 0.3)  # it waited for the slow request's place
        self.assertTrue(slow[0].communicate(timeout=10)[0].startswith(b"200"))

    def test_a_request_waits_at_most_the_connect_timeout(self):
        self.start('max_connections = 1\nmax_pending = 4\nconnect_timeout = "300ms"')
        self.busy(1, 2000)
        code, head, _, total, _ = self.timed_get(self.proxy.url("/headers"), "--http1.1")
        self.assertEqual(code, 503)
        self.assertIn("retry-after:", head)
        self.assertGreater(total, 0.25)
        self.assertLess(total, 0.3 + MARGIN)

    def test_under_load_the_bulkhead_caps_what_reaches_the_upstream(self):
        self.start("max_connections = 3\nmax_pending = 3")
        r = subprocess.run(["h2load", "-n", "60", "-c", "12", self.proxy.url("/slow?ms=100")],
                           capture_output=True, timeout=60)
        text = r.stdout.decode()
        m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
        self.assertIsNotNone(m, text)
        ok, refused = int(m.group(1)), int(m.group(4))
        self.assertEqual(ok + refused, 60, text)
        self.assertGreater(ok, 0)
        self.assertGreater(refused, 0)  # 12 at once, 6 places: the rest is refused at once
        lines = self.proxy.access_lines(wait_for=60)
        self.assertEqual(sum(1 for l in lines if l["status"] == 503), refused)
        self.assertTrue(all(l["server"] == "" for l in lines if l["status"] == 503))


class Breaker(IsolationTestCase):
    def test_breaker_opens_after_failures_fails_fast_and_recovers(self):
        o = self.origin()
        proxy = self.pforte(
            {"platform": 'servers = ["%s"]\ncircuit_breaker = { failure_ratio = 0.5, '
                         'min_requests = 4, window = "10s", open_for = "1s" }' % o.address}, None)
        for _ in range(4):
            self.assertEqual(harness.curl_status("--http1.1", proxy.url("/status/500"))[0], 500)
        o.reset()
        code, head, body, total, _ = self.timed_get(proxy.url("/static/app.css"), "--http1.1")
        self.assertEqual(code, 503)
        self.assertRegex(head, r"retry-after: 1\r\n")
        self.assertLess(total, 0.2)
        self.assertEqual(o.stats()["paths"]["static"], 0)  # failed fast: the origin saw nothing
        time.sleep(1.1)
        # Half-open: probes pass and, once three succeeded, the breaker is closed.
        codes = [harness.curl_status("--http1.1", proxy.url("/static/app.css"))[0] for _ in range(6)]
        self.assertEqual(codes, [200] * 6)
        self.assertEqual(o.stats()["paths"]["static"], 6)

    def test_a_failed_probe_opens_the_breaker_again(self):
        o = self.origin()
        proxy = self.pforte(
            {"platform": 'servers = ["%s"]\ncircuit_breaker = { failure_ratio = 0.5, '
                         'min_requests = 2, window = "10s", open_for = "500ms" }' % o.address}, None)
        for _ in range(2):
            harness.curl_status("--http1.1", proxy.url("/status/503"))
        self.assertEqual(harness.curl_status("--http1.1", proxy.url("/headers"))[0], 503)
        time.sleep(0.6)
        self.assertEqual(harness.curl_status("--http1.1", proxy.url("/status/502"))[0], 502)  # probe
        code, head, _, _, _ = self.timed_get(proxy.url("/headers"), "--http1.1")
        self.assertEqual(code, 503)
        self.assertIn("retry-after:", head)

    def test_a_dead_upstream_opens_the_breaker(self):
        dead = "127.0.0.1:%d" % harness.free_port()
        proxy = self.pforte(
            {"platform": 'servers = ["%s"]\ncircuit_breaker = { failure_ratio = 0.5, '
                         'min_requests = 3, window = "10s", open_for = "5s" }' % dead}, None)
        codes = [harness.curl_status("--http1.1", proxy.url("/"))[0] for _ in range(5)]
        self.assertEqual(codes, [502, 502, 502, 503, 503])


    def test_failures_answered_with_a_stale_copy_still_open_the_breaker(self):
        # The cache answers a dead upstream's failures with its stale copy (stale_if_error), and
        # the breaker still counts them as failures: the stale answers are not successes.
        o = self.origin()
        proxy = self.pforte(
            {"platform": 'servers = ["%s"]\ncircuit_breaker = { failure_ratio = 0.5, '
                         'min_requests = 3, window = "10s", open_for = "5s" }' % o.address},
            ['path_prefix = "/"\nupstream = "platform"\n'
             'cache = { enabled = true, stale_if_error = "1d" }'],
            admin=True, extra='[cache]\nmemory = "4MiB"\nmax_object = "256KiB"\n')
        url = proxy.url("/cc/breaker?cc=max-age%3D1")
        self.assertEqual(harness.curl_status("--http1.1", url)[0], 200)
        time.sleep(1.2)  # stale now
        o.stop()
        for _ in range(5):
            code, head, body, _, _ = self.timed_get(url, "--http1.1")
            self.assertEqual(code, 200)
            self.assertIn("fwd=stale", head)
        _, metrics = harness.curl_status(proxy.url("/metrics", admin=True))
        metrics = metrics.decode() if isinstance(metrics, bytes) else metrics
        # ok 1 + error 2 reach min_requests 3 at a ratio of 2/3: open; the rest fail fast (and
        # are answered with the stale copy too).
        self.assertEqual(upstream_requests(metrics, "platform", "ok"), 1)
        self.assertEqual(upstream_requests(metrics, "platform", "error"), 2)
        self.assertEqual(upstream_requests(metrics, "platform", "breaker_open"), 3)
        self.assertRegex(metrics, r'pforte_circuit_open\{upstream="platform"\} 1\b')


class Health(IsolationTestCase):
    def start(self, backup=True):
        self.a, self.b = self.origin(), self.origin()
        self.c = self.origin() if backup else None
        body = ('servers = ["%s", "%s"]\n' % (self.a.address, self.b.address) +
                ('backup = ["%s"]\n' % self.c.address if backup else "") +
                'health = { path = "/health", interval = "100ms", timeout = "100ms", fall = 2, rise = 2 }')
        self.proxy = self.pforte({"platform": body}, None)

    def static_counts(self, n=12):
        for o in (self.a, self.b, self.c):
            o.reset()
        for _ in range(n):
            self.assertEqual(harness.curl_status("--http1.1", self.proxy.url("/static/app.css"))[0], 200)
        return tuple(o.stats()["paths"]["static"] for o in (self.a, self.b, self.c))

    def test_failing_checks_eject_a_server_and_passing_checks_readmit_it(self):
        self.start()
        self.assertEqual(self.static_counts(), (6, 6, 0))
        set_health(self.a, 503)
        time.sleep(0.5)  # two failed checks, 100 ms apart
        self.assertEqual(self.static_counts(), (0, 12, 0))
        set_health(self.a, 200)
        time.sleep(0.5)
        self.assertEqual(self.static_counts(), (6, 6, 0))
        self.assertIn("is down (health checks failed)",
                      self.proxy.wait_error_text("is down (health checks failed)"))
        self.assertIn("is up again", self.proxy.wait_error_text("is up again"))

    def test_backup_takes_over_only_when_no_primary_is_healthy(self):
        self.start()
        set_health(self.a, 500)
        time.sleep(0.5)
        self.assertEqual(self.static_counts(), (0, 12, 0))
        set_health(self.b, 500)
        time.sleep(0.5)
        self.assertEqual(self.static_counts(), (0, 0, 12))
        set_health(self.b, 200)
        time.sleep(0.5)
        self.assertEqual(self.static_counts(), (0, 12, 0))

    def test_a_stopped_server_is_ejected_and_a_restarted_one_readmitted(self):
        self.start()
        port = self.a.port
        self.a.stop()
        time.sleep(0.5)
        self.a = harness.Origin(self.workdir, extra_args=())  # a stand-in while a is away
        self.addCleanup(self.a.stop)
        self.assertEqual(self.static_counts(), (0, 12, 0))
        # The server comes back on its port.
        self.a.stop()
        back = subprocess.Popen([harness.ORIGIN_BIN, "--quiet", "--listen", "127.0.0.1:%d" % port],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(harness.stop_process, back)
        harness.wait_for_port(port, proc=back)
        time.sleep(0.5)
        self.a.port = port
        self.assertEqual(self.static_counts(), (6, 6, 0))


class Observability(IsolationTestCase):
    def test_metrics_and_status_show_breaker_bulkhead_and_health(self):
        o = self.origin()
        dead = "127.0.0.1:%d" % harness.free_port()
        proxy = self.pforte(
            {"platform": 'servers = ["%s", "%s"]\nmax_connections = 7\n'
                         'health = { interval = "100ms", timeout = "100ms", fall = 1, rise = 1 }\n'
                         'circuit_breaker = { min_requests = 2, open_for = "5s" }' % (o.address, dead)},
            None, admin=True)
        time.sleep(0.4)
        for _ in range(2):
            harness.curl_status("--http1.1", proxy.url("/status/500"))
        self.assertEqual(harness.curl_status("--http1.1", proxy.url("/"))[0], 503)
        _, metrics = harness.curl_status(proxy.url("/metrics", admin=True))
        text = metrics.decode()
        self.assertIn('pforte_circuit_open{upstream="platform"} 1', text)
        self.assertIn('pforte_upstream_healthy{upstream="platform",server="%s"} 1' % o.address, text)
        self.assertIn('pforte_upstream_healthy{upstream="platform",server="%s"} 0' % dead, text)
        self.assertIn('pforte_upstream_requests_total{upstream="platform",outcome="5xx"} 2', text)
        self.assertIn('pforte_upstream_requests_total{upstream="platform",outcome="breaker_open"} 1',
                      text)
        _, status = harness.curl_status(proxy.url("/status.json", admin=True))
        up = json.loads(status)["modules"]["isolation"]["upstreams"][0]
        self.assertEqual(up["name"], "platform")
        self.assertEqual(up["max_connections"], 7)
        self.assertEqual(up["circuit"]["state"], "open")
        self.assertEqual([s["healthy"] for s in up["servers"]], [True, False])
        _, html = harness.curl_status(proxy.url("/status", admin=True))
        self.assertIn(b"%s: <b>down</b>" % dead.encode(), html)


if __name__ == "__main__":
    harness.main()
