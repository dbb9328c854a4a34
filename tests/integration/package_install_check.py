"""Installs the pforte package and runs it the way its systemd unit does, as on a fresh machine.

Run by test_packaging.py inside a throwaway root: a private mount namespace with an overlay of
the host's / (nothing reaches the host's disk) and a private network namespace (only its own
loopback). PID 1 there is not systemd, so the unit is carried out by hand: its User, its
ExecStartPre, ExecStart with a NOTIFY_SOCKET, ExecReload and KillSignal, read from the installed
unit file. Prints one line per step; exits non-zero with the reason at the first failure.

usage: package_install_check.py PACKAGE.deb PFORTE-ORIGIN
"""
import json
import os
import pwd
import shlex
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

UNIT = "/lib/systemd/system/pforte.service"


def step(message):
    print("--", message, flush=True)


def fail(message):
    print("FAIL:", message, flush=True)
    sys.exit(1)


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kwargs)


def unit_service_section(path):
    """{key: [values]} of the unit's [Service] section."""
    values = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                values.setdefault(key, []).append(value)
    return values


def as_user(user, argv):
    return ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "--"] + argv


def wait_notify(sock, wanted, timeout=15.0):
    """Reads sd_notify datagrams until one carries `wanted`; returns every field seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            break
        seen.extend(data.split("\n"))
        if wanted in data.split("\n"):
            return seen
    fail("no %s from the service within %.0f s (got %r)" % (wanted, timeout, seen))


def get(url, context=None):
    with urllib.request.urlopen(url, timeout=10, context=context) as r:
        return r.status, r.headers, r.read()


def main():
    deb, origin_bin = sys.argv[1], sys.argv[2]

    step("dpkg -i " + os.path.basename(deb))
    r = run(["dpkg", "-i", deb])
    if r.returncode != 0:
        fail("dpkg -i failed:\n" + r.stdout + r.stderr)
    if "self-signed certificate" not in r.stderr:
        fail("postinst did not say it made a self-signed certificate:\n" + r.stderr)
    user = pwd.getpwnam("pforte")
    if user.pw_shell != "/usr/sbin/nologin":
        fail("the pforte user has a login shell: " + user.pw_shell)
    for path, mode in (("/etc/pforte/site.key", 0o640), ("/etc/pforte/waiting-room.key", 0o640),
                       ("/etc/pforte/site.crt", 0o644)):
        st = os.stat(path)
        if st.st_mode & 0o777 != mode or st.st_gid != user.pw_gid:
            fail("%s: mode %o gid %d" % (path, st.st_mode & 0o777, st.st_gid))
    with open("/usr/lib/sysctl.d/60-pforte.conf") as f:
        if "net.ipv4.tcp_migrate_req = 1" not in f.read():
            fail("the sysctl file does not set tcp_migrate_req")

    unit = unit_service_section(UNIT)
    service_user = unit["User"][0]
    for directory in ("/run/" + unit["RuntimeDirectory"][0], "/var/lib/" + unit["StateDirectory"][0],
                      "/var/log/" + unit["LogsDirectory"][0]):
        os.makedirs(directory, exist_ok=True)
        os.chown(directory, user.pw_uid, user.pw_gid)

    # The packaged configuration's upstream "platform" is 127.0.0.1:9001 (9002, backup 9003).
    origin = subprocess.Popen([origin_bin, "--listen", "127.0.0.1:9001", "--quiet"])
    try:
        notify_path = "/run/pforte-test-notify"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        os.chmod(notify_path, 0o777)

        for command in unit.get("ExecStartPre", []):
            step("ExecStartPre=" + command)
            r = run(as_user(service_user, shlex.split(command)))
            if r.returncode != 0:
                fail("ExecStartPre failed:\n" + r.stderr)

        command = unit["ExecStart"][0]
        step("ExecStart=" + command)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        service = subprocess.Popen(as_user(service_user, shlex.split(command)), env=env,
                                   stderr=subprocess.PIPE, text=True)
        try:
            wait_notify(notify, "READY=1")
            step("READY=1")

            status, headers, body = get("http://127.0.0.1:8080/")
            if status != 200 or not headers.get("X-Request-Id"):
                fail("GET http://127.0.0.1:8080/: %d %r" % (status, dict(headers)))
            step("GET http://127.0.0.1:8080/ -> 200 with X-Request-Id")
            insecure = ssl.create_default_context()
            insecure.check_hostname = False
            insecure.verify_mode = ssl.CERT_NONE
            status, headers, body = get("https://127.0.0.1:8443/", context=insecure)
            if status != 200:
                fail("GET https://127.0.0.1:8443/: %d" % status)
            step("GET https://127.0.0.1:8443/ -> 200 with the self-signed certificate")
            status, _, body = get("http://127.0.0.1:9901/status.json")
            if status != 200 or json.loads(body)["pforte"]["generation"] != 1:
                fail("admin /status.json: %d %r" % (status, body[:200]))
            step("admin /status.json -> 200")

            for command in unit.get("ExecReload", []):
                command = command.replace("$MAINPID", str(service.pid))
                step("ExecReload=" + command)
                r = run(as_user(service_user, shlex.split(command)))
                if r.returncode != 0:
                    fail("ExecReload failed:\n" + r.stderr)
            seen = wait_notify(notify, "READY=1")
            if "RELOADING=1" not in seen:
                fail("no RELOADING=1 before READY=1: %r" % seen)
            status, _, _ = get("http://127.0.0.1:8080/")
            if status != 200:
                fail("GET after reload: %d" % status)
            step("reloaded: RELOADING=1, READY=1, still serving")

            if os.path.exists("/usr/sbin/logrotate"):
                r = run(["logrotate", "--debug", "/etc/logrotate.d/pforte"])
                if r.returncode != 0:
                    fail("logrotate rejects /etc/logrotate.d/pforte:\n" + r.stderr)
                step("logrotate accepts /etc/logrotate.d/pforte")

            signal_name = unit.get("KillSignal", ["SIGTERM"])[0]
            step("stop with " + signal_name)
            service.send_signal(getattr(__import__("signal"), signal_name))
            wait_notify(notify, "STOPPING=1")
            code = service.wait(timeout=45)
            if code != 0:
                fail("the service exited with %d:\n%s" % (code, service.stderr.read()))
            step("STOPPING=1, exit 0")
        finally:
            if service.poll() is None:
                service.kill()
                service.wait()
    finally:
        origin.terminate()
        origin.wait(timeout=10)

    step("dpkg --purge pforte")
    r = run(["dpkg", "--purge", "pforte"])
    if r.returncode != 0:
        fail("dpkg --purge failed:\n" + r.stdout + r.stderr)
    leftovers = [p for p in ("/etc/pforte", "/var/lib/pforte", "/usr/sbin/pforte") if
                 os.path.exists(p)]
    if leftovers:
        fail("left after purge: %r" % leftovers)
    try:
        pwd.getpwnam("pforte")
        fail("the pforte user is still there after purge")
    except KeyError:
        pass
    step("purged: no files, no user")
    print("OK", flush=True)


if __name__ == "__main__":
    main()
