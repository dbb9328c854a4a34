"""Operations: reload without loss (SIGHUP), refused reloads, listeners added and removed, the
admin listener's /metrics, /status and /status.json, and `pforte -t` over every example in conf/."""
import glob
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import http.client
import unittest
import urllib.request

import harness


def admin_get(proxy, path):
    with urllib.request.urlopen(proxy.url(path, admin=True), timeout=5) as r:
        return r.status, r.headers, r.read()


def status_json(proxy):
    return json.loads(admin_get(proxy, "/status.json")[2])


def parse_prometheus(text):
    """A strict reader of the Prometheus text format (0.0.4): returns {(name, labels): value} and
    fails on any line that is not a comment, a blank or a well-formed sample."""
    samples = {}
    types = {}
    sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, "family declared twice: " + name
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        m = sample_re.match(line)
        assert m, "bad sample line: %r" % line
        labels = []
        if m.group(3):
            rest = m.group(3)
            pos = 0
            while pos < len(rest):
                lm = label_re.match(rest, pos)
                assert lm, "bad labels in %r" % line
                labels.append((lm.group(1), lm.group(2)))
                pos = lm.end()
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in types or base in types, "sample without TYPE: " + line
        samples[(m.group(1), tuple(labels))] = float(m.group(4))
    return samples, types


class Reload(unittest.TestCase):
    """SIGHUP replaces the config without failing a request; an invalid file is refused."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="pforte-it-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name
        self.a = harness.Origin(self.workdir)
        self.addCleanup(self.a.stop)
        self.b = harness.Origin(self.workdir)
        self.addCleanup(self.b.stop)
        self.proxy = harness.Pforte(self.workdir, {"platform": 'servers = ["%s"]' % self.a.address},
                                    tls=False, workers=2, admin=True)
        self.addCleanup(self.proxy.stop)
        with open(self.proxy.config) as f:
            self.base_config = f.read()

    def write_config(self, text):
        tmp = self.proxy.config + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.proxy.config)

    def reload(self, expect_generation=None):
        before = status_json(self.proxy)["pforte"]["generation"]
        os.kill(self.proxy.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            doc = status_json(self.proxy)
            last = doc["pforte"]["last_reload"]
            if last is not None and (doc["pforte"]["generation"] != before or not last["ok"]):
                if last["ok"] or doc["pforte"]["generation"] == before:
                    return doc
            time.sleep(0.02)
        self.fail("reload did not finish")

    def config_for(self, origin):
        return self.base_config.replace(self.a.address, origin.address)

    def test_reload_under_h1_and_h2_load_fails_no_request(self):
        failures = []
        served = {"n": 0}
        stop = threading.Event()

        def h1_client():
            conn = http.client.HTTPConnection("127.0.0.1", self.proxy.http, timeout=5)
            while not stop.is_set():
                try:
                    conn.request("GET", "/static/app.css")
                    r = conn.getresponse()
                    body = r.read()
                    if r.status != 200 or len(body) != 4096:
                        failures.append((r.status, len(body)))
                    served["n"] += 1
                except Exception as e:  # a dropped connection is a failure too
                    failures.append(repr(e))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.proxy.http, timeout=5)
            conn.close()

        threads = [threading.Thread(target=h1_client) for _ in range(4)]
        for t in threads:
            t.start()
        h2 = subprocess.Popen(["h2load", "-n", "6000", "-c", "4", "-m", "8", "-D", "0",
                               "http://127.0.0.1:%d/static/app.css" % self.proxy.http],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            for i in range(6):
                time.sleep(0.15)
                self.write_config(self.config_for(self.b if i % 2 == 0 else self.a))
                doc = self.reload()
                self.assertTrue(doc["pforte"]["last_reload"]["ok"], doc)
            out, _ = h2.communicate(timeout=60)
        finally:
            stop.set()
            for t in threads:
                t.join()
            harness.end_client(h2)
        text = out.decode()
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored", text)
        self.assertIsNotNone(m, text)
        self.assertEqual(int(m.group(4)), 6000, text)
        self.assertEqual(int(m.group(5)) + int(m.group(6)), 0, text)
        self.assertEqual(failures, [])
        self.assertGreater(served["n"], 100)
        # Both origins served: the switches took effect.
        self.assertGreater(self.a.stats()["paths"]["static"], 0)
        self.assertGreater(self.b.stats()["paths"]["static"], 0)
        self.assertEqual(status_json(self.proxy)["pforte"]["generation"], 7)

    def test_reload_switches_new_requests_to_the_new_upstream(self):
        self.write_config(self.config_for(self.b))
        self.reload()
        self.b.reset()
        code, _ = harness.curl_status(self.proxy.url("/headers"))
        self.assertEqual(code, 200)
        self.assertEqual(self.b.stats()["paths"]["headers"], 1)

    def test_in_flight_request_finishes_on_the_old_config(self):
        proc = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                                 "10", self.proxy.url("/slow?ms=800")], stdout=subprocess.PIPE)
        self.addCleanup(harness.end_client, proc)
        time.sleep(0.2)
        self.write_config(self.config_for(self.b))
        self.reload()
        out, _ = proc.communicate(timeout=10)
        self.assertEqual(out, b"200")

    def test_invalid_config_is_refused_and_the_old_one_keeps_serving(self):
        broken = self.base_config.replace('path_prefix = "/"', 'path_prefix = "/"\nupstream_typo = 1')
        self.write_config(broken)
        doc = self.reload()
        last = doc["pforte"]["last_reload"]
        self.assertFalse(last["ok"])
        self.assertEqual(doc["pforte"]["generation"], 1)
        self.assertRegex(last["message"], re.escape(self.proxy.config) + r":\d+:\d+: .*upstream_typo")
        self.assertRegex(self.proxy.wait_error_text("upstream_typo"),
                         re.escape(self.proxy.config) + r":\d+:\d+: .*upstream_typo")
        code, _ = harness.curl_status(self.proxy.url("/static/app.css"))
        self.assertEqual(code, 200)
        samples, _ = parse_prometheus(admin_get(self.proxy, "/metrics")[2].decode())
        self.assertEqual(samples[("pforte_config_reloads_total", (("result", "refused"),))], 1)
        # The status page says so in words.
        page = admin_get(self.proxy, "/status")[2].decode()
        self.assertIn("REFUSED", page)

    def test_setting_that_cannot_change_is_named_in_the_refusal(self):
        self.write_config(self.base_config.replace("workers = 2", "workers = 3"))
        doc = self.reload()
        self.assertFalse(doc["pforte"]["last_reload"]["ok"])
        self.assertIn("global.workers", doc["pforte"]["last_reload"]["message"])

    def test_listeners_are_added_and_removed(self):
        extra = harness.free_port()
        self.write_config(self.base_config + '\n[[listener]]\naddress = "127.0.0.1:%d"\n' % extra)
        self.assertTrue(self.reload()["pforte"]["last_reload"]["ok"])
        code, _ = harness.curl_status("http://127.0.0.1:%d/static/app.css" % extra)
        self.assertEqual(code, 200)
        self.write_config(self.base_config)
        self.assertTrue(self.reload()["pforte"]["last_reload"]["ok"])
        code, _ = harness.curl_status("http://127.0.0.1:%d/static/app.css" % extra, timeout=2)
        self.assertEqual(code, 0)  # connection refused
        code, _ = harness.curl_status(self.proxy.url("/static/app.css"))
        self.assertEqual(code, 200)

    def test_listener_on_a_busy_port_refuses_the_reload(self):
        busy = harness.free_port()
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", busy))
        s.listen(1)
        self.addCleanup(s.close)
        self.write_config(self.base_config + '\n[[listener]]\naddress = "127.0.0.1:%d"\n' % busy)
        doc = self.reload()
        self.assertFalse(doc["pforte"]["last_reload"]["ok"])
        self.assertIn(str(busy), doc["pforte"]["last_reload"]["message"])
        code, _ = harness.curl_status(self.proxy.url("/static/app.css"))
        self.assertEqual(code, 200)


class Admin(harness.ProxyTestCase):
    """The admin listener: metrics that parse and move with traffic, status page and JSON."""

    @classmethod
    def pforte_kwargs(cls, origin):
        return {"upstreams": {"platform": 'servers = ["%s"]' % origin.address}, "admin": True,
                "workers": 2}

    def test_metrics_parse_and_count_requests(self):
        samples, types = parse_prometheus(admin_get(self.proxy, "/metrics")[2].decode())
        self.assertEqual(types.get("pforte_requests_total", "counter"), "counter")
        self.assertEqual(types["pforte_request_duration_seconds"], "histogram")
        self.assertEqual(types["pforte_connections"], "gauge")
        before = samples.get(("pforte_requests_total", (("route", "0"), ("code", "200"))), 0)
        for _ in range(5):
            self.assertEqual(harness.curl_status(self.proxy.url("/static/app.css"))[0], 200)
        self.assertEqual(harness.curl_status("--http2-prior-knowledge",
                                             self.proxy.url("/static/app.css"))[0], 200)
        samples, _ = parse_prometheus(admin_get(self.proxy, "/metrics")[2].decode())
        self.assertEqual(samples[("pforte_requests_total", (("route", "0"), ("code", "200")))],
                         before + 6)
        count = samples[("pforte_request_duration_seconds_count", ())]
        inf = samples[("pforte_request_duration_seconds_bucket", (("le", "+Inf"),))]
        self.assertEqual(count, inf)
        self.assertGreaterEqual(count, 6)

    def test_metrics_content_type(self):
        status, headers, _ = admin_get(self.proxy, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))

    def test_status_json_describes_the_process(self):
        doc = status_json(self.proxy)
        self.assertEqual(doc["pforte"]["workers"], 2)
        self.assertEqual(doc["pforte"]["generation"], 1)
        self.assertIsNone(doc["pforte"]["last_reload"])
        self.assertEqual(doc["upstreams"][0]["name"], "platform")
        self.assertEqual(doc["upstreams"][0]["servers"], [self.origin.address])

    def test_admin_pages_are_not_on_the_public_listener(self):
        self.origin.reset()
        _, body = harness.curl_status(self.proxy.url("/metrics"))
        # The public listener proxied it to the origin like any other path.
        self.assertNotIn(b"pforte_requests_total", body)
        self.assertGreaterEqual(self.origin.stats()["requests"], 1)

    def test_unknown_admin_path_is_404_and_post_is_405(self):
        self.assertEqual(harness.curl_status(self.proxy.url("/nope", admin=True))[0], 404)
        self.assertEqual(harness.curl_status("-X", "POST", self.proxy.url("/metrics", admin=True))[0],
                         405)

    def test_status_page_renders_in_chromium(self):
        chromium = shutil.which("chromium")
        if not chromium:
            self.skipTest("chromium is not installed (scripts/install-deps.sh installs it)")
        os.makedirs(harness.ARTIFACTS, exist_ok=True)
        shot = os.path.join(harness.ARTIFACTS, "status-page.png")
        if os.path.exists(shot):
            os.remove(shot)
        profile = tempfile.mkdtemp(prefix="pforte-chromium-", dir=self.workdir)
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--user-data-dir=" + profile, "--window-size=1100,800",
                            "--screenshot=" + shot, "--dump-dom",
                            self.proxy.url("/status", admin=True)],
                           capture_output=True, timeout=60)
        dom = r.stdout.decode(errors="replace")
        self.assertIn("Upstreams", dom)
        self.assertIn(self.origin.address, dom)
        self.assertTrue(os.path.exists(shot) and os.path.getsize(shot) > 1000, r.stderr[-2000:])


class ServiceManager(harness.OriginTestCase):
    """Type=notify: READY=1 once listening, RELOADING=1 then READY=1 around a reload, STOPPING=1."""

    def test_readiness_reload_and_stop_are_announced(self):
        import socket
        path = os.path.join(self._tmp.name, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(5)
        self.addCleanup(sock.close)
        proxy = harness.Pforte(self._tmp.name, {"platform": 'servers = ["%s"]' % self.origin.address},
                               tls=False, env={"NOTIFY_SOCKET": path})
        try:
            first = sock.recv(4096).decode()
            self.assertIn("READY=1", first.split("\n"))
            self.assertIn("MAINPID=%d" % proxy.proc.pid, first)
            self.assertEqual(harness.curl_status(proxy.url("/static/app.css"))[0], 200)
            os.kill(proxy.proc.pid, signal.SIGHUP)
            reloading = sock.recv(4096).decode()
            self.assertIn("RELOADING=1", reloading)
            self.assertRegex(reloading, r"MONOTONIC_USEC=\d+")
            self.assertIn("READY=1", sock.recv(4096).decode())
        finally:
            proxy.stop()
        self.assertIn("STOPPING=1", sock.recv(4096).decode())


class Upgrade(unittest.TestCase):
    """A binary upgrade: a new process binds the same ports (SO_REUSEPORT) and the old one drains.
    Lossless only with net.ipv4.tcp_migrate_req = 1 (Linux >= 5.14): otherwise connections still
    in the old socket's accept queue when it closes are reset by the kernel. The test runs in a
    network namespace of its own with that setting, so it never touches the host's."""

    def test_new_process_takes_over_without_refusing_connections(self):
        if os.environ.get("PFORTE_IN_NETNS") == "1":
            self.skipTest("inside the namespace the inner test runs")
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
            self.skipTest("needs root, unshare and ip for a private network namespace")
        script = ("ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=1 && "
                  "exec \"$0\" \"$1\" UpgradeInNamespace")
        r = subprocess.run(["unshare", "--net", "sh", "-c", script, shutil.which("python3"),
                            os.path.abspath(__file__)],
                           env=dict(os.environ, PFORTE_IN_NETNS="1"), capture_output=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-3000:])
        self.assertIn("OK", r.stderr.decode())


class UpgradeInNamespace(harness.OriginTestCase):
    """The body of Upgrade, run by it inside a private network namespace."""

    @classmethod
    def setUpClass(cls):
        if os.environ.get("PFORTE_IN_NETNS") != "1":
            raise unittest.SkipTest("run by Upgrade inside a network namespace")
        super().setUpClass()

    def test_takeover(self):
        upstreams = {"platform": 'servers = ["%s"]' % self.origin.address}
        old = harness.Pforte(self._tmp.name, upstreams, tls=False)
        self.addCleanup(old.stop)
        failures = []
        done = {"n": 0}
        stop = threading.Event()

        def client():
            while not stop.is_set():
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", old.http, timeout=5)
                    conn.request("GET", "/static/app.css", headers={"Connection": "close"})
                    r = conn.getresponse()
                    if r.status != 200 or len(r.read()) != 4096:
                        failures.append(r.status)
                    conn.close()
                    done["n"] += 1
                except Exception as e:
                    failures.append(repr(e))

        threads = [threading.Thread(target=client) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            new = harness.Pforte(self._tmp.name, upstreams, tls=False, ports=(old.http, None, None))
            self.addCleanup(new.stop)
            deadline = time.monotonic() + 5
            while "started with" not in new.error_text() and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)
            self.assertEqual(old.stop(signal.SIGTERM), 0)
            before = done["n"]
            time.sleep(0.5)
            self.assertGreater(done["n"], before, "the new process serves after the old one left")
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(failures, [])


class ConfigExamples(unittest.TestCase):
    """`pforte -t` accepts every example in conf/ once the files it names exist."""

    def test_every_example_is_valid(self):
        examples = sorted(glob.glob(os.path.join(harness.SOURCE_DIR, "conf", "*.toml")))
        self.assertTrue(examples)
        with tempfile.TemporaryDirectory(prefix="pforte-it-") as workdir:
            cert, key = harness.make_certificate(workdir)
            for path in examples:
                with open(path) as f:
                    text = f.read()
                # Paths of an installed system (and the demo's key dir, which scripts/demo.sh
                # fills), provided here in a temp dir.
                for prefix in ("/etc/pforte/", "/var/lib/pforte/", "/tmp/pforte-demo/"):
                    for name in set(re.findall(re.escape(prefix) + r'([A-Za-z0-9._-]+)', text)):
                        target = os.path.join(workdir, name)
                        if os.path.exists(target):
                            continue
                        if name.endswith(".crt"):
                            shutil.copy(cert, target)
                        elif name.endswith(".key") and "waiting" not in name:
                            shutil.copy(key, target)
                        elif name.endswith(".key"):
                            with open(target, "w") as f:
                                f.write(secrets.token_hex(32) + "\n")
                        elif name.endswith(".html"):
                            src = os.path.join(harness.SOURCE_DIR, "conf", name)
                            if os.path.exists(src):
                                shutil.copy(src, target)
                            else:
                                with open(target, "w") as f:
                                    f.write("<!doctype html><title>wait</title>\n")
                    text = text.replace(prefix, workdir + "/")
                local = os.path.join(workdir, os.path.basename(path))
                with open(local, "w") as f:
                    f.write(text)
                r = subprocess.run([harness.PFORTE_BIN, "-t", "-c", local], capture_output=True,
                                   timeout=10, cwd=os.path.dirname(path))
                self.assertEqual(r.returncode, 0, "%s: %s" % (path, r.stderr.decode()))


if __name__ == "__main__":
    harness.main()
