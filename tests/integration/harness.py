"""Integration-test harness: starts the real pforte binary and the origin simulator on loopback
ports, writes configs, makes TLS certificates, runs real clients, and stops every process it
started by PID. Standard library only.

Environment (set by CTest; defaults work from a build in ../../build):
  PFORTE_BIN, PFORTE_ORIGIN_BIN, PFORTE_SOURCE_DIR
"""
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("PFORTE_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))
PFORTE_BIN = os.environ.get("PFORTE_BIN", os.path.join(SOURCE_DIR, "build", "pforte"))
ORIGIN_BIN = os.environ.get("PFORTE_ORIGIN_BIN", os.path.join(SOURCE_DIR, "build", "pforte-origin"))
ARTIFACTS = os.environ.get("PFORTE_ARTIFACTS", os.path.join(HERE, "artifacts"))


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d" % (proc.returncode, port))
        with contextlib.suppress(OSError):
            with socket.create_connection((host, port), timeout=0.2):
                return
        time.sleep(0.02)
    raise TimeoutError("nothing listening on %s:%d" % (host, port))


def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """Stops `proc` by PID: `sig`, then SIGKILL after `timeout`. Returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


class Origin:
    """The origin simulator on an ephemeral port (or several)."""

    def __init__(self, workdir, listens=1, extra_args=()):
        self.workdir = workdir
        port_file = os.path.join(workdir, "origin-ports-%d" % id(self))
        args = [ORIGIN_BIN, "--quiet", "--port-file", port_file]
        for _ in range(listens):
            args += ["--listen", "127.0.0.1:0"]
        args += list(extra_args)
        self.log = open(os.path.join(workdir, "origin-%d.log" % id(self)), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("origin simulator did not start")
            time.sleep(0.01)
        with open(port_file) as f:
            self.ports = [int(line.strip().rsplit(":", 1)[-1]) for line in f if line.strip()]
        self.port = self.ports[0]
        self.address = "127.0.0.1:%d" % self.port

    def url(self, path, port=None):
        return "http://127.0.0.1:%d%s" % (port or self.port, path)

    def stats(self):
        with urllib.request.urlopen(self.url("/_origin/stats"), timeout=5) as r:
            return json.load(r)

    def reset(self):
        req = urllib.request.Request(self.url("/_origin/reset"), method="POST", data=b"")
        urllib.request.urlopen(req, timeout=5).read()

    def set_blog(self, mode, delay_ms=0):
        req = urllib.request.Request(self.url("/_origin/blog?mode=%s&delay_ms=%d" % (mode, delay_ms)),
                                     method="POST", data=b"")
        urllib.request.urlopen(req, timeout=5).read()

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def make_certificate(workdir, name="localhost"):
    """A self-signed EC P-256 certificate for `name` and 127.0.0.1. Returns (cert, key) paths."""
    cert = os.path.join(workdir, "cert.pem")
    key = os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % name],
                   check=True, capture_output=True)
    return cert, key


class Pforte:
    """The real pforte binary with a generated config. Ports: .http (cleartext h1 + h2c),
    .https (TLS, if tls=True), .admin (the admin listener, if admin=True)."""

    def __init__(self, workdir, upstreams, routes=None, tls=True, workers=1, extra="", limits="",
                 global_extra="", wait=True, admin=False, env=None, ports=None, nofile=None):
        self.workdir = workdir
        # A port from free_port() can be taken before pforte binds it (other tests' outgoing
        # connections use the same ephemeral range): then pforte exits, and it is started again
        # on fresh ports, up to three times.
        for attempt in range(3):
            try:
                self._start(upstreams, routes, tls, workers, extra, limits, global_extra, wait,
                            admin, env, ports, nofile)
                return
            except RuntimeError:
                text = self.startup_output()
                if ports or attempt == 2 or "Address already in use" not in text:
                    raise RuntimeError("pforte did not start:\n" + text[-2000:])
                self._stderr.close()

    def startup_output(self):
        """What pforte wrote to stderr and its error log so far."""
        text = ""
        for path in (self.stderr_path, self.error_log):
            if os.path.exists(path):
                with open(path, "rb") as f:
                    text += f.read().decode(errors="replace")
        return text

    def _start(self, upstreams, routes, tls, workers, extra, limits, global_extra, wait, admin,
               env, ports, nofile):
        # `ports` = (http, https, admin) of another instance: a second process on the same
        # sockets (SO_REUSEPORT), as in a binary upgrade.
        self.http = ports[0] if ports else free_port()
        self.https = (ports[1] if ports else free_port()) if tls else None
        self.admin = (ports[2] if ports else free_port()) if admin else None
        self.access_log = os.path.join(self.workdir, "access-%d.log" % id(self))
        self.error_log = os.path.join(self.workdir, "error-%d.log" % id(self))
        lines = ["[global]", "workers = %d" % workers, 'access_log = "%s"' % self.access_log,
                 'error_log = "%s"' % self.error_log, 'log_level = "debug"', global_extra, ""]
        if limits:
            lines += ["[limits]", limits, ""]
        lines += ["[[listener]]", 'address = "127.0.0.1:%d"' % self.http, ""]
        if tls:
            self.cert, self.key = make_certificate(self.workdir)
            lines += ["[[listener]]", 'address = "127.0.0.1:%d"' % self.https,
                      'tls = { cert = "%s", key = "%s" }' % (self.cert, self.key), ""]
        if admin:
            lines += ["[admin]", 'address = "127.0.0.1:%d"' % self.admin, ""]
        for name, body in upstreams.items():
            lines += ["[upstream.%s]" % name, body, ""]
        if routes is None:
            first = next(iter(upstreams))
            routes = ['path_prefix = "/"\nupstream = "%s"' % first]
        for r in routes:
            lines += ["[[route]]", r, ""]
        lines.append(extra)
        self.config = os.path.join(self.workdir, "pforte-%d.toml" % id(self))
        with open(self.config, "w") as f:
            f.write("\n".join(lines))
        # stderr goes to a file: sanitizer reports and startup errors end up there.
        self.stderr_path = os.path.join(self.workdir, "stderr-%d.log" % id(self))
        self._stderr = open(self.stderr_path, "wb")
        # `nofile`: the process's descriptor limit (soft and hard), as a small LimitNOFILE would.
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) \
            if nofile else None
        self.proc = subprocess.Popen([PFORTE_BIN, "-c", self.config], stdout=subprocess.DEVNULL,
                                     stderr=self._stderr, preexec_fn=limit,
                                     env=dict(os.environ, **env) if env else None)
        if wait:
            wait_for_port(self.http, proc=self.proc)
            if self.https:
                wait_for_port(self.https, proc=self.proc)
            if self.admin:
                wait_for_port(self.admin, proc=self.proc)

    def url(self, path, tls=False, admin=False):
        if admin:
            return "http://127.0.0.1:%d%s" % (self.admin, path)
        if tls:
            return "https://localhost:%d%s" % (self.https, path)
        return "http://127.0.0.1:%d%s" % (self.http, path)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        code = stop_process(self.proc, sig, timeout)
        self._stderr.close()
        # A sanitizer report is a failure even if every request looked fine.
        with open(self.stderr_path, "rb") as f:
            text = f.read().decode(errors="replace")
        if "ERROR: AddressSanitizer" in text or "runtime error:" in text or "LeakSanitizer" in text:
            raise AssertionError("sanitizer report in pforte's stderr:\n" + text[-4000:])
        return code

    def access_lines(self, wait_for=1, timeout=3.0):
        """Parsed access-log lines (waits up to `timeout` for at least `wait_for`)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = []
            if os.path.exists(self.access_log):
                with open(self.access_log) as f:
                    lines = [json.loads(l) for l in f if l.strip()]
            if len(lines) >= wait_for or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def error_text(self):
        if not os.path.exists(self.error_log):
            return ""
        with open(self.error_log) as f:
            return f.read()

    def wait_error_text(self, needle, timeout=3.0):
        """The error log once it holds `needle` (or after `timeout`). The listening sockets are
        bound before startup ends, so a line logged at startup may land after the port opens; a
        line logged by a worker or a signal handler may land after the reply that caused it."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.error_text()
            if needle in text or time.monotonic() > deadline:
                return text
            time.sleep(0.02)


def curl(*args, timeout=30, input=None):
    """Runs curl; returns CompletedProcess (stdout bytes)."""
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout)] + list(args),
                          capture_output=True, timeout=timeout + 5, input=input)


def curl_status(*args, **kw):
    """(status code as int, body bytes) of a curl request."""
    r = curl("-o", "-", "-w", "\n%{http_code}", *args, **kw)
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code or 0), body


def raw_request(port, data, read_timeout=3.0, host="127.0.0.1"):
    """Sends raw bytes on a new connection and returns everything read until close or timeout."""
    with socket.create_connection((host, port), timeout=read_timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        except (socket.timeout, ConnectionResetError):
            pass
        return b"".join(chunks)


def end_client(proc):
    """Stops a client process started by a test (kill if still running) and reaps it."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


class OriginTestCase(unittest.TestCase):
    """Base class: one origin per test class in a temp dir; each test starts the pforte it needs."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="pforte-it-")
        cls.origin = Origin(cls._tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.origin.stop()
        cls._tmp.cleanup()


class ProxyTestCase(unittest.TestCase):
    """Base class: a temp dir, an origin and a pforte per test class, all stopped afterwards.
    Subclasses may override `origin_args`, `pforte_kwargs()`."""

    origin_listens = 1
    origin_args = ()

    @classmethod
    def pforte_kwargs(cls, origin):
        return {"upstreams": {"platform": 'servers = ["%s"]' % origin.address}}

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="pforte-it-")
        cls.workdir = cls._tmp.name
        cls.origin = Origin(cls.workdir, cls.origin_listens, cls.origin_args)
        try:
            cls.proxy = Pforte(cls.workdir, **cls.pforte_kwargs(cls.origin))
        except Exception:
            cls.origin.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.origin.stop()
        cls._tmp.cleanup()


def main():
    unittest.main(verbosity=2)
