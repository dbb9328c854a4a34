"""The process from an operator's side: --version, the config check with FILE:LINE:COL errors,
graceful (SIGTERM) and fast (SIGINT) stops, several workers, and the connection limit."""
import contextlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness

VALID = """\
[global]
workers = 1
access_log = "off"
drain_timeout = "5s"

[limits]
max_connections = 1000

[[listener]]
address = "127.0.0.1:1"

[upstream.app]
servers = ["127.0.0.1:2"]
response_timeout = "2s"

[[route]]
path_prefix = "/"
upstream = "app"
"""


class ConfigCheck(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="pforte-it-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name

    def check(self, text, name="pforte.toml"):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([harness.PFORTE_BIN, "-t", "-c", path], capture_output=True, timeout=10)
        return r.returncode, path, r.stderr.decode()

    def errors(self, path, stderr):
        """(line, col, message) of each FILE:LINE:COL: line on stderr."""
        found = []
        for line in stderr.splitlines():
            m = re.match(re.escape(path) + r":(\d+):(\d+): (.+)$", line)
            if m:
                found.append((int(m.group(1)), int(m.group(2)), m.group(3)))
        return found

    def assert_error_at(self, text, line, col, *words):
        code, path, stderr = self.check(text)
        self.assertEqual(code, 1, stderr)
        errors = self.errors(path, stderr)
        self.assertEqual(len(errors), 1, stderr)
        self.assertEqual(errors[0][:2], (line, col), stderr)
        for w in words:
            self.assertIn(w, errors[0][2])

    def test_version(self):
        r = subprocess.run([harness.PFORTE_BIN, "--version"], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode() + r.stderr.decode(), r"pforte \d+\.\d+\.\d+")

    def test_valid_config_passes(self):
        code, path, stderr = self.check(VALID)
        self.assertEqual(code, 0, stderr)
        self.assertEqual(self.errors(path, stderr), [])

    def test_check_does_not_start_the_server(self):
        port = harness.free_port()
        code, _, stderr = self.check(VALID.replace("127.0.0.1:1", "127.0.0.1:%d" % port))
        self.assertEqual(code, 0, stderr)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()

    def test_syntax_error_is_reported_on_its_line(self):
        text = VALID.replace("[limits]", "[limits")  # line 6
        code, path, stderr = self.check(text)
        self.assertEqual(code, 1)
        errors = self.errors(path, stderr)
        self.assertEqual(len(errors), 1, stderr)
        self.assertEqual(errors[0][0], 6, stderr)
        self.assertGreaterEqual(errors[0][1], 1)

    def test_unknown_key_is_reported_at_the_key(self):
        text = VALID.replace("workers = 1\n", "workers = 1\n   bogus_key = 3\n")
        self.assert_error_at(text, 3, 4, "bogus_key")

    def test_bad_duration_is_reported_at_the_value(self):
        text = VALID.replace('drain_timeout = "5s"', 'drain_timeout = "10parsecs"')
        self.assert_error_at(text, 4, 17, "10parsecs")

    def test_route_naming_an_unknown_upstream_is_reported_at_the_name(self):
        text = VALID.replace('upstream = "app"', 'upstream = "nope"')
        self.assert_error_at(text, 18, 12, "nope")

    def test_wrong_type_is_reported(self):
        text = VALID.replace("max_connections = 1000", 'max_connections = "many"')
        self.assert_error_at(text, 7, 19)

    def test_all_errors_are_reported_at_once(self):
        text = (VALID.replace('drain_timeout = "5s"', 'drain_timeout = "5 s"')
                .replace('upstream = "app"', 'upstream = "nope"'))
        code, path, stderr = self.check(text)
        self.assertEqual(code, 1)
        errors = self.errors(path, stderr)
        self.assertEqual([e[:2] for e in errors], [(4, 17), (18, 12)], stderr)

    def test_missing_file_is_an_error(self):
        path = os.path.join(self.workdir, "absent.toml")
        r = subprocess.run([harness.PFORTE_BIN, "-t", "-c", path], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path, r.stderr.decode())


class Signals(harness.OriginTestCase):
    """Each test starts its own pforte, since each one ends it."""

    def pforte(self, global_extra="", **kw):
        tmp = tempfile.TemporaryDirectory(prefix="pforte-it-")
        self.addCleanup(tmp.cleanup)
        p = harness.Pforte(tmp.name, {"platform": 'servers = ["%s"]' % self.origin.address},
                           tls=False, global_extra=global_extra, **kw)
        self.addCleanup(p.stop)
        return p

    def start_curl(self, url, *args):
        proc = subprocess.Popen(["curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w",
                                 "%{http_code} %{size_download}", *args, url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(harness.end_client, proc)
        return proc

    def wait_until_at_origin(self, before, timeout=5.0):
        """Waits until the origin has received one more /slow or /hang request ("other" paths;
        each stats request is one too)."""
        calls = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls += 1
            if self.origin.stats()["paths"]["other"] > before + calls:
                return
            time.sleep(0.02)
        self.fail("the request never reached the origin")

    def other_count(self):
        return self.origin.stats()["paths"]["other"]

    @staticmethod
    def refused(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return False
        except (ConnectionRefusedError, ConnectionResetError):
            # Reset: the SYN raced with the listener closing; not accepted either way.
            return True

    def test_sigterm_lets_the_request_in_flight_finish(self):
        proxy = self.pforte('drain_timeout = "10s"')
        before = self.other_count()
        client = self.start_curl(proxy.url("/slow?ms=1500"), "--http1.1")
        self.wait_until_at_origin(before)
        os.kill(proxy.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 1.0
        while not self.refused(proxy.http) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertTrue(self.refused(proxy.http), "new connections are still accepted")
        self.assertIsNone(client.poll(), "the request in flight ended early")
        out, err = client.communicate(timeout=10)
        done = time.monotonic()
        self.assertEqual(client.returncode, 0, err)
        self.assertEqual(out.decode().split()[0], "200")
        proxy.proc.wait(timeout=5)
        self.assertEqual(proxy.proc.returncode, 0)
        self.assertLess(time.monotonic() - done, 1.0, "pforte lingered after the last request")

    def test_sigterm_with_h2_request_in_flight(self):
        proxy = self.pforte('drain_timeout = "10s"')
        before = self.other_count()
        client = self.start_curl(proxy.url("/slow?ms=1000"), "--http2-prior-knowledge")
        self.wait_until_at_origin(before)
        os.kill(proxy.proc.pid, signal.SIGTERM)
        out, err = client.communicate(timeout=10)
        self.assertEqual(client.returncode, 0, err)
        self.assertEqual(out.decode().split()[0], "200")
        self.assertEqual(proxy.proc.wait(timeout=5), 0)

    def test_sigterm_does_not_wait_for_idle_keep_alive_connections(self):
        proxy = self.pforte('drain_timeout = "10s"')
        with socket.create_connection(("127.0.0.1", proxy.http), timeout=5) as idle:
            idle.sendall(b"GET /static/app.css HTTP/1.1\r\nHost: t\r\n\r\n")
            got = b""
            while len(got) < 4096 or b"\r\n\r\n" not in got:
                got += idle.recv(65536)
            start = time.monotonic()
            os.kill(proxy.proc.pid, signal.SIGTERM)
            proxy.proc.wait(timeout=12)
            self.assertEqual(proxy.proc.returncode, 0)
            self.assertLess(time.monotonic() - start, 1.5)

    def test_sigterm_gives_up_after_the_drain_timeout(self):
        proxy = self.pforte('drain_timeout = "1s"')
        before = self.other_count()
        client = self.start_curl(proxy.url("/hang"), "--http1.1")
        self.wait_until_at_origin(before)
        start = time.monotonic()
        os.kill(proxy.proc.pid, signal.SIGTERM)
        try:
            proxy.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.fail("pforte still runs 5 s after SIGTERM with drain_timeout = 1s")
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.8, "pforte did not drain at all")
        self.assertLess(elapsed, 3.0)
        self.assertGreaterEqual(proxy.proc.returncode, 0, "killed by a signal")
        client.communicate(timeout=5)
        self.assertNotEqual(client.returncode, 0, "a hung request cannot have completed")

    def test_sigint_stops_at_once(self):
        proxy = self.pforte('drain_timeout = "30s"')
        before = self.other_count()
        client = self.start_curl(proxy.url("/slow?ms=5000"), "--http1.1")
        self.wait_until_at_origin(before)
        start = time.monotonic()
        os.kill(proxy.proc.pid, signal.SIGINT)
        try:
            proxy.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.fail("pforte still runs 5 s after SIGINT")
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertGreaterEqual(proxy.proc.returncode, 0, "killed by a signal")
        client.communicate(timeout=5)
        self.assertNotEqual(client.returncode, 0)

    def test_max_connections_is_clamped_to_the_descriptor_limit(self):
        # 200 descriptors: the reserve (64 + 4 per worker + listeners) leaves room for 65 client
        # connections with an upstream connection each.
        proxy = self.pforte(nofile=200)
        text = proxy.wait_error_text("accepting at most 65 client connections")
        self.assertEqual(text.count("accepting at most 65 client connections"), 1, text)
        sockets = []
        try:
            for _ in range(180):
                sockets.append(socket.create_connection(("127.0.0.1", proxy.http), timeout=2))
            time.sleep(0.5)
            self.assertIsNone(proxy.proc.poll(), "pforte died past its descriptors")
            # An accepted idle connection still gets its answer while others queue.
            sockets[0].sendall(b"GET /static/app.css HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b"200 OK", sockets[0].recv(200))
        finally:
            for s in sockets:
                with contextlib.suppress(OSError):
                    s.close()
        deadline = time.monotonic() + 5
        while harness.curl_status("--http1.1", proxy.url("/static/app.css"), timeout=2)[0] != 200:
            self.assertLess(time.monotonic(), deadline, "no answer after the connections closed")
        self.assertIsNone(proxy.proc.poll())
        with open(proxy.stderr_path) as f:
            self.assertNotIn("Too many open files", f.read())
        self.assertNotIn("Too many open files", proxy.error_text())

    def test_sigusr1_reopens_the_logs_after_rotation(self):
        proxy = self.pforte()
        self.assertEqual(harness.curl_status("--http1.1", proxy.url("/static/app.css?before"))[0],
                         200)
        proxy.access_lines(wait_for=1)
        # What logrotate does without copytruncate: rename, then ask the daemon to reopen.
        os.rename(proxy.access_log, proxy.access_log + ".1")
        os.rename(proxy.error_log, proxy.error_log + ".1")
        proxy.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while not (os.path.exists(proxy.access_log) and os.path.exists(proxy.error_log)):
            self.assertLess(time.monotonic(), deadline, "the log files were not reopened")
            time.sleep(0.05)
        self.assertEqual(harness.curl_status("--http1.1", proxy.url("/static/app.css?after"))[0],
                         200)
        lines = proxy.access_lines(wait_for=1)
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(lines[0]["path"], "/static/app.css?after")
        with open(proxy.access_log + ".1") as f:
            rotated = f.read()
        self.assertIn("before", rotated)
        self.assertNotIn("after", rotated)
        with open(proxy.error_log + ".1") as f:
            self.assertIn("SIGUSR1: reopening log files", f.read())
        self.assertIn("SIGUSR1: log files reopened",
                      proxy.wait_error_text("SIGUSR1: log files reopened"))
        self.assertIsNone(proxy.proc.poll())

    def test_two_workers_serve_many_connections(self):
        proxy = self.pforte(workers=2)
        tasks = os.listdir("/proc/%d/task" % proxy.proc.pid)
        self.assertGreaterEqual(len(tasks), 2)
        for args in (["--h1"], []):
            with self.subTest(args=args):
                r = subprocess.run(["h2load", *args, "-n", "1000", "-c", "50", "-m", "2",
                                    proxy.url("/static/app.css")], capture_output=True, timeout=60)
                out = r.stdout.decode()
                self.assertIn("1000 succeeded, 0 failed, 0 errored", out)
                self.assertIn("1000 2xx", out)
        self.assertIsNone(proxy.proc.poll())

    def test_connections_beyond_max_connections_do_not_crash_it(self):
        proxy = self.pforte(limits="max_connections = 5")
        sockets = []
        try:
            for _ in range(20):
                sockets.append(socket.create_connection(("127.0.0.1", proxy.http), timeout=2))
            time.sleep(0.3)
            self.assertIsNone(proxy.proc.poll(), "pforte died with 20 idle connections")
        finally:
            for s in sockets:
                with contextlib.suppress(OSError):
                    s.close()
        deadline = time.monotonic() + 5
        codes = []
        while time.monotonic() < deadline:
            status, _ = harness.curl_status("--http1.1", proxy.url("/static/app.css"), timeout=2)
            codes.append(status)
            if status == 200:
                break
        self.assertEqual(codes[-1], 200, codes)
        for _ in range(10):
            self.assertEqual(harness.curl_status("--http1.1", proxy.url("/static/app.css"))[0], 200)
        self.assertIsNone(proxy.proc.poll())


if __name__ == "__main__":
    harness.main()
