"""Isolation: ESI fragments that survive a slow, hung or dead blog; bulkheads; circuit breakers;
active health checks. Real pforte, real origin simulator, real clients (curl, h2load)."""
import contextlib
import re
import socket
import subprocess
import tempfile
import threading
import time
import unittest

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


class Fragments(IsolationTestCase):
    def start(self, blog_mode="healthy", timeout="200ms"):
        self.o = self.origin("--blog-mode", blog_mode, "--blog-delay-ms", "3000")
        upstreams = {
            "platform": 'servers = ["%s"]' % self.o.address,
            "blog": 'servers = ["%s"]\nresponse_timeout = "5s"' % self.o.address,
        }
        routes = [
            'path_prefix = "/news/"\nupstream = "blog"',
            'path_prefix = "/"\nupstream = "platform"\nfragments = { enabled = true, timeout = "%s" }'
            % timeout,
        ]
        self.proxy = self.pforte(upstreams, routes)

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


if __name__ == "__main__":
    harness.main()
