"""Packaging: builds the Debian package with packaging/build-deb.sh and checks what it holds: the
file list, conffiles, control fields and maintainer scripts, the systemd unit (systemd-analyze
verify), the manual pages (rendered without warnings), the packaged configuration (valid once the
certificate it names exists) and the packaged binary (--version). With root, it also installs the package in a throwaway root and runs it as its unit says.

The Release tree is kept in $PFORTE_BUILD_DIR/packaging-deb (or $PFORTE_PACKAGE_BUILD_DIR), so
later runs only rebuild what changed; the .deb goes to a temp dir.
"""
import gzip
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import harness

# PFORTE_PACKAGE_BUILD_DIR: reuse another Release tree, e.g. build-deb/ of packaging/build-deb.sh.
BUILD_DIR = os.environ.get("PFORTE_PACKAGE_BUILD_DIR") or os.path.join(
    os.environ.get("PFORTE_BUILD_DIR", os.path.join(harness.SOURCE_DIR, "build")), "packaging-deb")
MAN_PAGES = {"/usr/share/man/man8/pforte.8.gz": "man/pforte.8",
             "/usr/share/man/man5/pforte.toml.5.gz": "man/pforte.toml.5"}


def project_version():
    with open(os.path.join(harness.SOURCE_DIR, "CMakeLists.txt")) as f:
        return re.search(r"project\(pforte VERSION ([0-9.]+)", f.read()).group(1)


def missing_tools(*tools):
    return [t for t in tools if shutil.which(t) is None]


@unittest.skipIf(missing_tools("cpack", "dpkg-deb"), "needs cpack and dpkg-deb")
@unittest.skipIf(os.environ.get("PFORTE_SANITIZED") == "1",
                 "the package is a Release build of its own; the sanitizer run adds nothing to it")
class DebianPackage(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.host_had_pforte = os.path.exists("/usr/sbin/pforte")
        cls._tmp = tempfile.TemporaryDirectory(prefix="pforte-deb-")
        cls.tmp = cls._tmp.name
        env = dict(os.environ, BUILD_DIR=BUILD_DIR, OUT_DIR=os.path.join(cls.tmp, "out"), JOBS="2")
        started = time.monotonic()
        r = subprocess.run([os.path.join(harness.SOURCE_DIR, "packaging", "build-deb.sh")], env=env,
                           capture_output=True, text=True, timeout=1500)
        if r.returncode != 0:
            cls._tmp.cleanup()
            raise AssertionError("build-deb.sh failed:\n" + r.stdout[-4000:] + r.stderr[-4000:])
        print("package built in %.0f s (build tree %s)" % (time.monotonic() - started, BUILD_DIR))
        cls.deb = r.stdout.strip().splitlines()[-1]
        cls.root = os.path.join(cls.tmp, "root")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True)
        cls.control = os.path.join(cls.tmp, "control")
        subprocess.run(["dpkg-deb", "-e", cls.deb, cls.control], check=True)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def contents(self):
        """{path: (mode string, owner/group)} from `dpkg-deb -c`."""
        out = subprocess.run(["dpkg-deb", "-c", self.deb], check=True, capture_output=True,
                             text=True).stdout
        files = {}
        for line in out.splitlines():
            fields = line.split(None, 5)
            path = fields[5].split(" -> ")[0]
            files[path[1:].rstrip("/") or "/"] = (fields[0], fields[1])
        return files

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name], check=True, capture_output=True,
                              text=True).stdout.strip()

    def test_file_name_carries_the_project_version(self):
        self.assertRegex(os.path.basename(self.deb),
                         r"^pforte_%s-1_[a-z0-9]+\.deb$" % re.escape(project_version()))

    def test_package_holds_the_daemon_config_unit_logrotate_and_manuals(self):
        files = self.contents()
        for path in ["/usr/sbin/pforte", "/etc/pforte/pforte.toml", "/etc/pforte/waiting-room.html",
                     "/etc/logrotate.d/pforte", "/usr/lib/sysctl.d/60-pforte.conf", *MAN_PAGES]:
            self.assertIn(path, files)
        units = [p for p in ("/lib/systemd/system/pforte.service",
                             "/usr/lib/systemd/system/pforte.service") if p in files]
        self.assertEqual(len(units), 1, sorted(files))
        self.assertEqual(files["/usr/sbin/pforte"], ("-rwxr-xr-x", "root/root"))
        for path in ["/etc/pforte/pforte.toml", "/etc/logrotate.d/pforte", units[0]]:
            self.assertEqual(files[path], ("-rw-r--r--", "root/root"), path)
        # Only the daemon: no test programs or the origin simulator.
        self.assertEqual([p for p in files if "/bin/" in p or "/sbin/" in p], ["/usr/sbin/pforte"])

    def test_files_under_etc_are_conffiles(self):
        with open(os.path.join(self.control, "conffiles")) as f:
            conffiles = f.read().split()
        self.assertIn("/etc/pforte/pforte.toml", conffiles)
        etc = sorted(p for p, (mode, _) in self.contents().items()
                     if p.startswith("/etc/") and mode.startswith("-"))
        self.assertEqual(sorted(conffiles), etc)

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "pforte")
        self.assertEqual(self.field("Version"), project_version() + "-1")
        self.assertEqual(self.field("Section"), "net")
        depends = self.field("Depends")
        # Computed by dpkg-shlibdeps from the binary's libraries, plus adduser for postinst.
        for lib in ("libc6", "libevent", "libnghttp2", "libssl3", "adduser", "openssl"):
            self.assertIn(lib, depends)
        self.assertTrue(self.field("Description"))
        self.assertTrue(self.field("Maintainer"))

    def test_maintainer_scripts_are_executable_posix_shell(self):
        for name in ("postinst", "prerm", "postrm"):
            path = os.path.join(self.control, name)
            self.assertTrue(os.stat(path).st_mode & stat.S_IXUSR, name)
            r = subprocess.run(["sh", "-n", path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, name + ": " + r.stderr)
        with open(os.path.join(self.control, "postinst")) as f:
            postinst = f.read()
        self.assertIn("adduser --system --group", postinst)
        with open(os.path.join(self.control, "postrm")) as f:
            self.assertRegex(f.read(), r'"\$1" = "purge"')

    def test_systemd_unit_verifies(self):
        if missing_tools("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        unit_dir = os.path.join(self.root, "lib", "systemd", "system")
        if not os.path.isdir(unit_dir):
            unit_dir = os.path.join(self.root, "usr", "lib", "systemd", "system")
        with open(os.path.join(unit_dir, "pforte.service")) as f:
            unit = f.read()
        for key in ("Type=notify", "ExecStartPre=/usr/sbin/pforte -t -c /etc/pforte/pforte.toml",
                    "ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM",
                    "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ProtectSystem=strict",
                    "User=pforte"):
            self.assertIn(key, unit.splitlines())
        stop = re.search(r"^TimeoutStopSec=(\d+)s?$", unit, re.M)
        self.assertTrue(stop and int(stop.group(1)) > 30, "TimeoutStopSec above drain_timeout")
        # verify checks that ExecStart= programs exist, on this host: point them at the packaged
        # binary. Documentation=man:... is checked with `man`, given the packaged pages.
        local = os.path.join(self.tmp, "unit", "pforte.service")
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "w") as f:
            f.write(unit.replace("/usr/sbin/pforte", os.path.join(self.root, "usr", "sbin", "pforte")))
        env = dict(os.environ, MANPATH=os.path.join(self.root, "usr", "share", "man"))
        r = subprocess.run(["systemd-analyze", "verify", local], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_manual_pages_render_without_warnings(self):
        for packaged, source in MAN_PAGES.items():
            with gzip.open(os.path.join(self.root, packaged.lstrip("/"))) as f:
                text = f.read()
            with open(os.path.join(harness.SOURCE_DIR, source), "rb") as f:
                self.assertEqual(text, f.read(), packaged)
            if shutil.which("groff"):
                r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=text,
                                   capture_output=True)
                self.assertEqual((r.returncode, r.stderr.decode()), (0, ""), source)
            if shutil.which("man"):
                env = dict(os.environ, MANWIDTH="80")
                r = subprocess.run(["man", "--warnings", "-l", os.path.join(self.root, packaged[1:])],
                                   capture_output=True, env=env, timeout=60)
                self.assertEqual((r.returncode, r.stderr.decode()), (0, ""), source)
                plain = re.sub(rb".\x08", b"", r.stdout)  # overstrike bold and underline
                for heading in (b"NAME", b"SYNOPSIS", b"DESCRIPTION", b"SEE ALSO"):
                    self.assertIn(b"\n" + heading + b"\n", plain, source)
            if not shutil.which("groff") and not shutil.which("man"):
                self.skipTest("neither groff nor man is installed")

    def test_manual_documents_every_key_of_the_example_config(self):
        with open(os.path.join(self.root, "etc", "pforte", "pforte.toml")) as f:
            config = f.read()
        with open(os.path.join(harness.SOURCE_DIR, "man", "pforte.toml.5")) as f:
            manual = f.read()
        # Keys set in the example, outside comments: each is a tagged paragraph (.B key) or named
        # in a table's description.
        keys = set(re.findall(r"^([a-z_0-9]+) *=", config, re.M))
        keys |= set(re.findall(r"[{,] *([a-z_]+) *=", "\n".join(
            l for l in config.splitlines() if not l.lstrip().startswith("#"))))
        self.assertTrue(keys)
        for key in sorted(keys):
            self.assertRegex(manual, r"(?m)^\.B %s\b" % re.escape(key), key)

    def test_packaged_config_is_valid_once_its_certificate_exists(self):
        binary = os.path.join(self.root, "usr", "sbin", "pforte")
        etc = os.path.join(self.tmp, "etc-pforte")
        shutil.copytree(os.path.join(self.root, "etc", "pforte"), etc)
        with open(os.path.join(etc, "pforte.toml")) as f:
            text = f.read()
        local = os.path.join(self.tmp, "pforte.toml")
        state = os.path.join(self.tmp, "var-lib-pforte")
        os.makedirs(state, exist_ok=True)
        with open(local, "w") as f:
            f.write(text.replace("/etc/pforte/", etc + "/").replace("/var/lib/pforte/", state + "/"))
        # As installed: the certificate is the operator's to provide, and the check says so.
        r = subprocess.run([binary, "-t", "-c", local], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, re.escape(local) + r":\d+:\d+: .*site\.(crt|key)")
        cert, key = harness.make_certificate(self.tmp)
        shutil.copy(cert, os.path.join(etc, "site.crt"))
        shutil.copy(key, os.path.join(etc, "site.key"))
        with open(os.path.join(etc, "waiting-room.key"), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        r = subprocess.run([binary, "-t", "-c", local], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_example_in_the_config_manual_is_valid(self):
        with open(os.path.join(harness.SOURCE_DIR, "man", "pforte.toml.5")) as f:
            manual = f.read()
        example = re.search(r"^\.SH EXAMPLE\n.*?^\.EX\n(.*?)^\.EE$", manual, re.M | re.S).group(1)
        workdir = os.path.join(self.tmp, "manual-example")
        os.makedirs(workdir)
        cert, key = harness.make_certificate(workdir)
        example = example.replace("/etc/pforte/site.crt", cert).replace("/etc/pforte/site.key", key)
        example = example.replace("/var/log/pforte/", workdir + "/")
        local = os.path.join(workdir, "example.toml")
        with open(local, "w") as f:
            f.write(example)
        r = subprocess.run([os.path.join(self.root, "usr", "sbin", "pforte"), "-t", "-c", local],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_waiting_room_template_uses_only_known_placeholders(self):
        with open(os.path.join(self.root, "etc", "pforte", "waiting-room.html")) as f:
            page = f.read()
        used = set(re.findall(r"\{\{([a-z_]+)\}\}", page))
        self.assertTrue({"position", "refresh_seconds"} <= used, used)
        self.assertLessEqual(used, {"position", "eta_seconds", "eta_minutes", "refresh_seconds",
                                    "refresh_ms", "room", "lang"})
        self.assertNotRegex(page, r'(src|href)="(https?:)?//', "the page loads nothing from elsewhere")

    def test_installs_and_runs_as_its_unit_says_on_a_fresh_machine(self):
        """dpkg -i, start as the unit does (sd_notify), serve, reload, stop, purge; in a throwaway
        root: an overlay of / in a private mount namespace, and a private network namespace."""
        if os.geteuid() != 0:
            self.skipTest("needs root for the mount and network namespaces")
        if missing_tools("unshare", "chroot", "ip", "setpriv", "dpkg"):
            self.skipTest("needs unshare, chroot, ip, setpriv and dpkg")
        check = os.path.join(harness.HERE, "package_install_check.py")
        top = tempfile.mkdtemp(prefix="pforte-install-")
        # Exit status 77: the machine cannot make the throwaway root (no overlayfs, say).
        script = """set -e
top=$1; deb=$2; origin=$3; check=$4; python=$5
{
  mount -t tmpfs tmpfs "$top" &&
  mkdir "$top/upper" "$top/work" "$top/root" &&
  mount -t overlay overlay -o lowerdir=/,upperdir="$top/upper",workdir="$top/work" "$top/root" &&
  mount --rbind /proc "$top/root/proc" &&
  mount --rbind /dev "$top/root/dev" &&
  mount --rbind /sys "$top/root/sys" &&
  mount -t tmpfs tmpfs "$top/root/run" &&
  mount -t tmpfs tmpfs "$top/root/tmp" &&
  ip link set lo up
} || exit 77
cp "$deb" "$origin" "$check" "$top/root/tmp/"
exec chroot "$top/root" "$python" "/tmp/$(basename "$check")" "/tmp/$(basename "$deb")" \
  "/tmp/$(basename "$origin")"
"""
        try:
            r = subprocess.run(["unshare", "--mount", "--net", "--fork", "sh", "-c", script, "sh",
                                top, self.deb, harness.ORIGIN_BIN, check, sys.executable],
                               capture_output=True, text=True, timeout=300)
        finally:
            os.rmdir(top)
        print(r.stdout)
        if r.returncode == 77 or "unshare failed" in r.stderr:
            self.skipTest("cannot make a throwaway root here: " + r.stderr.strip()[-300:])
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr[-4000:])
        self.assertTrue(r.stdout.rstrip().endswith("OK"), r.stdout)
        self.assertFalse(os.path.exists("/usr/sbin/pforte") and not self.host_had_pforte,
                         "the install reached the host")

    def test_packaged_binary_runs(self):
        r = subprocess.run([os.path.join(self.root, "usr", "sbin", "pforte"), "--version"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "pforte " + project_version())


if __name__ == "__main__":
    harness.main()
