"""The edge cache with the real binary, the origin simulator and real clients (curl over HTTP/1.1
and HTTP/2 with TLS, h2load): hits never reach the origin, uncacheable answers are never stored,
conditionals, HEAD and Range are answered from the cache, stale copies are served when the origin
fails, concurrent misses are coalesced into one origin fetch across workers, and PURGE works on
the admin listener only. The origin's per-path counters (`cc`) tell what reached it."""
import gzip
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import harness

# Routes by Host: "swr.test" has stale-while-revalidate; everything else stale-if-error only.
CACHE_CONFIG = """
[cache]
memory = "4MiB"
max_object = "256KiB"
"""
ROUTES = [
    'host = "swr.test"\npath_prefix = "/"\nupstream = "platform"\n'
    'cache = { enabled = true, default_ttl = "1h", stale_while_revalidate = "1m" }',
    'host = "plain.test"\npath_prefix = "/"\nupstream = "platform"',
    'path_prefix = "/"\nupstream = "platform"\n'
    'cache = { enabled = true, default_ttl = "1h", stale_if_error = "1d" }',
]


def cc_path(name, **params):
    """/cc/<name>?k=v... with the values %-encoded (the origin decodes them)."""
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return "/cc/%s%s" % (name, "?" + query if query else "")


def parse_head(text):
    """(status, {lower-case name: value}) of the last head in curl -D output."""
    heads = [h for h in re.split(r"\r?\n\r?\n", text) if h.strip()]
    lines = heads[-1].splitlines()
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.setdefault(name.strip().lower(), value.strip())
    return status, fields


class CacheTestBase(unittest.TestCase):
    workers = 1
    admin = False

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="pforte-it-")
        cls.workdir = cls._tmp.name
        cls.origin = harness.Origin(cls.workdir)
        try:
            cls.proxy = harness.Pforte(cls.workdir, {"platform": 'servers = ["%s"]' % cls.origin.address},
                                       routes=ROUTES, extra=CACHE_CONFIG, workers=cls.workers,
                                       admin=cls.admin)
        except Exception:
            cls.origin.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.origin.stop()
        cls._tmp.cleanup()

    def tearDown(self):
        self.assertIsNone(self.proxy.proc.poll(), "pforte exited; error log:\n" +
                          self.proxy.error_text()[-2000:])

    def get(self, path, *args, host=None, h2=False, method=None):
        """curl through pforte (HTTP/1.1, or HTTP/2 over TLS); returns (status, fields, body)."""
        head_file = os.path.join(self.workdir, "head.txt")
        opts = []
        if h2:
            opts = ["--http2", "--cacert", self.proxy.cert,
                    "--resolve", "localhost:%d:127.0.0.1" % self.proxy.https]
        else:
            opts = ["--http1.1"]
        if host:
            opts += ["-H", "Host: " + host]
        if method == "HEAD":
            opts += ["-I"]
        elif method:
            opts += ["-X", method]
        r = harness.curl(*opts, "-D", head_file, "-o", "-", *args, self.proxy.url(path, tls=h2))
        self.assertEqual(r.returncode, 0, "curl %s failed: %s" % (path, r.stderr))
        with open(head_file, encoding="latin-1") as f:
            status, fields = parse_head(f.read())
        return status, fields, r.stdout

    def origin_count(self):
        return self.origin.stats()["paths"]["cc"]


class Cache(CacheTestBase):
    admin = True

    def test_second_request_never_reaches_the_origin(self):
        path = cc_path("hit", cc="public, max-age=600")
        before = self.origin_count()
        status, fields, body = self.get(path)
        self.assertEqual(status, 200)
        self.assertEqual(body, b"cc hit\n")
        self.assertRegex(fields["cache-status"], r"^pforte; fwd=uri-miss; fwd-status=200; stored; ttl=600$")
        # The scheme is part of the key: h2 over TLS has its own copy.
        self.get(path, h2=True)
        for h2 in (False, True):
            with self.subTest(h2=h2):
                status, fields, body = self.get(path, h2=h2)
                self.assertEqual(status, 200)
                self.assertEqual(body, b"cc hit\n")
                self.assertRegex(fields["cache-status"], r"^pforte; hit; ttl=\d+$")
                self.assertIn("age", fields)
                self.assertLessEqual(int(fields["age"]), 2)
        self.assertEqual(self.origin_count() - before, 2)

    def test_large_body_is_served_whole_from_the_cache(self):
        path = cc_path("large", cc="max-age=600", size=200000)
        _, _, first = self.get(path)
        self.get(path, h2=True)
        for h2 in (False, True):
            with self.subTest(h2=h2):
                status, fields, body = self.get(path, h2=h2)
                self.assertEqual(status, 200)
                self.assertTrue(fields["cache-status"].startswith("pforte; hit"))
                self.assertEqual(len(body), 200000)
                self.assertEqual(body, first)

    def test_static_asset_is_cached_over_h2(self):
        before = self.origin.stats()["paths"]["static"]
        for _ in range(3):
            status, fields, body = self.get("/static/app.css", h2=True)
            self.assertEqual(status, 200)
            self.assertEqual(len(body), 4096)
        self.assertEqual(fields["cache-status"].split(";")[1].strip(), "hit")
        self.assertEqual(self.origin.stats()["paths"]["static"] - before, 1)

    def test_uncacheable_answers_are_never_stored(self):
        cases = {
            "no-store": ({"cc": "no-store"}, []),
            "private": ({"cc": "private, max-age=600"}, []),
            "set-cookie": ({"cc": "max-age=600", "cookie": "1"}, []),
            "authorization": ({"cc": "max-age=600"}, ["-H", "Authorization: Basic dTpw"]),
            "useless": ({"cc": "max-age=0, must-revalidate", "etag": "0"}, []),
        }
        for name, (params, args) in cases.items():
            with self.subTest(case=name):
                path = cc_path("unc-" + name, **params)
                before = self.origin_count()
                for _ in range(2):
                    status, fields, _ = self.get(path, *args)
                    self.assertEqual(status, 200)
                    self.assertNotIn("stored", fields["cache-status"])
                    self.assertIn("fwd=uri-miss", fields["cache-status"])
                self.assertEqual(self.origin_count() - before, 2)
        # The Set-Cookie reaches the client that caused the fetch.
        _, fields, _ = self.get(cc_path("unc-set-cookie", cc="max-age=600", cookie="1"))
        self.assertIn("set-cookie", fields)

    def test_public_set_cookie_is_stored_without_the_cookie(self):
        path = cc_path("cookie-public", cc="public, max-age=600", cookie="1")
        _, first, _ = self.get(path)
        self.assertIn("set-cookie", first)
        _, second, _ = self.get(path)
        self.assertTrue(second["cache-status"].startswith("pforte; hit"))
        self.assertNotIn("set-cookie", second)

    def test_default_ttl_applies_only_without_freshness_information(self):
        _, fields, _ = self.get(cc_path("default-ttl"))
        self.assertIn("stored; ttl=3600", fields["cache-status"])
        _, fields, _ = self.get(cc_path("explicit-ttl", cc="max-age=120"))
        self.assertIn("stored; ttl=120", fields["cache-status"])
        _, fields, _ = self.get(cc_path("s-maxage", cc="max-age=120, s-maxage=30"))
        self.assertIn("stored; ttl=30", fields["cache-status"])

    def test_head_is_answered_from_a_cached_get(self):
        path = cc_path("head", cc="max-age=600", size=5000)
        self.get(path)
        self.get(path, h2=True)
        before = self.origin_count()
        for h2 in (False, True):
            with self.subTest(h2=h2):
                status, fields, body = self.get(path, h2=h2, method="HEAD")
                self.assertEqual(status, 200)
                self.assertEqual(fields["content-length"], "5000")
                self.assertTrue(fields["cache-status"].startswith("pforte; hit"))
        self.assertEqual(self.origin_count(), before)

    def test_conditionals_get_304_from_the_cache(self):
        path = cc_path("cond", cc="max-age=600")
        _, fields, _ = self.get(path)
        self.get(path, h2=True)
        etag = fields["etag"]
        before = self.origin_count()
        status, fields, body = self.get(path, "-H", "If-None-Match: " + etag)
        self.assertEqual(status, 304)
        self.assertEqual(body, b"")
        self.assertEqual(fields["etag"], etag)
        self.assertTrue(fields["cache-status"].startswith("pforte; hit"))
        status, _, _ = self.get(path, "-H", "If-None-Match: \"other\"")
        self.assertEqual(status, 200)
        status, _, _ = self.get(path, "-H", "If-Modified-Since: Mon, 02 Mar 2020 08:00:00 GMT",
                                h2=True)
        self.assertEqual(status, 304)
        self.assertEqual(self.origin_count(), before)

    def test_range_requests_get_206_from_the_cache(self):
        path = cc_path("range", cc="max-age=600", size=1000)
        _, _, whole = self.get(path)
        self.get(path, h2=True)
        before = self.origin_count()
        status, fields, body = self.get(path, "-H", "Range: bytes=10-19")
        self.assertEqual(status, 206)
        self.assertEqual(fields["content-range"], "bytes 10-19/1000")
        self.assertEqual(body, whole[10:20])
        status, fields, body = self.get(path, "-H", "Range: bytes=0-4,-5", h2=True)
        self.assertEqual(status, 206)
        self.assertTrue(fields["content-type"].startswith("multipart/byteranges; boundary="))
        self.assertIn(b"Content-Range: bytes 0-4/1000\r\n\r\n" + whole[0:5], body)
        self.assertIn(b"Content-Range: bytes 995-999/1000\r\n\r\n" + whole[995:], body)
        status, fields, _ = self.get(path, "-H", "Range: bytes=5000-")
        self.assertEqual(status, 416)
        self.assertEqual(fields["content-range"], "bytes */1000")
        self.assertEqual(self.origin_count(), before)

    def test_range_on_a_miss_fetches_and_stores_the_whole_object(self):
        path = cc_path("range-miss", cc="max-age=600", size=1000)
        status, _, body = self.get(path, "-H", "Range: bytes=0-9")
        self.assertIn(status, (200, 206))
        status, _, body = self.get(path, "-H", "Range: bytes=0-9")
        self.assertEqual(status, 206)
        self.assertEqual(len(body), 10)

    def test_vary_keeps_one_variant_per_field_value(self):
        path = cc_path("vary", cc="max-age=600", vary="Accept-Language")
        before = self.origin_count()
        for _ in range(2):
            for lang in ("de", "en"):
                _, _, body = self.get(path, "-H", "Accept-Language: " + lang)
                self.assertEqual(body, ("variant %s\n" % lang).encode())
        self.assertEqual(self.origin_count() - before, 2)

    def test_vary_accept_encoding_makes_one_variant_per_coding(self):
        path = cc_path("vary-ae", cc="max-age=600", vary="Accept-Encoding")
        before = self.origin_count()
        for ae in ("gzip, deflate, br", "br", "br;q=1, gzip;q=0.5", "gzip, deflate", "gzip"):
            _, fields, body = self.get(path, "-H", "Accept-Encoding: " + ae)
            expected = "br" if "br" in ae else "gzip"
            self.assertEqual(body, ("variant %s\n" % expected).encode(), ae)
        self.assertEqual(self.origin_count() - before, 2)

    def test_objects_above_max_object_are_not_stored(self):
        path = cc_path("big", cc="max-age=600", size=300000)
        before = self.origin_count()
        for _ in range(2):
            status, _, body = self.get(path)
            self.assertEqual(status, 200)
            self.assertEqual(len(body), 300000)
        self.assertEqual(self.origin_count() - before, 2)

    def test_memory_bound_evicts_old_objects(self):
        # 4 MiB of memory in 8 shards of 512 KiB (max_object 256 KiB), each shard holding two of
        # these 200 KB objects: the first one is gone once two more land in its shard. Which shard
        # a key goes to depends on the port in it, so with 40 objects that failed about once in 30
        # runs; with 120 (about 15 per shard) the odds are below one in 100,000.
        paths = [cc_path("fill-%d" % i, cc="max-age=600", size=200000) for i in range(120)]
        for p in paths:
            self.get(p)
        before = self.origin_count()
        _, fields, _ = self.get(paths[0])
        self.assertIn("fwd=uri-miss", fields["cache-status"])
        self.assertEqual(self.origin_count() - before, 1)
        self.assertLessEqual(self.scrape()["pforte_cache_bytes"], 4 * 1024 * 1024)

    def test_text_is_stored_once_and_served_compressed_by_accept_encoding(self):
        path = cc_path("compress", cc="max-age=600", type="text/css", size=20000)
        _, first, identity = self.get(path)
        self.assertNotIn("content-encoding", first)  # the fetch itself passes through
        before = self.origin_count()
        for h2 in (False, True):
            self.get(path, h2=h2)
            with self.subTest(h2=h2, coding="gzip"):
                status, fields, body = self.get(path, "-H", "Accept-Encoding: gzip", h2=h2)
                self.assertEqual(status, 200)
                self.assertEqual(fields["content-encoding"], "gzip")
                self.assertIn("Accept-Encoding", fields["vary"])
                self.assertLess(len(body), len(identity))
                self.assertEqual(gzip.decompress(body), identity)
            with self.subTest(h2=h2, coding="br"):
                status, fields, body = self.get(path, "-H", "Accept-Encoding: br, gzip", h2=h2)
                self.assertEqual(fields["content-encoding"], "br")
                self.assertLess(len(body), len(identity))
                # curl decodes brotli itself.
                status, fields, body = self.get(path, "--compressed", h2=h2)
                self.assertEqual(body, identity)
            with self.subTest(h2=h2, coding="identity"):
                status, fields, body = self.get(path, h2=h2)
                self.assertNotIn("content-encoding", fields)
                self.assertEqual(fields["vary"], "Accept-Encoding")
                self.assertEqual(body, identity)
        self.assertEqual(self.origin_count() - before, 1)  # the h2 (https) copy
        # Not text: never compressed.
        png = cc_path("compress-png", cc="max-age=600", type="image/png", size=20000)
        self.get(png)
        _, fields, _ = self.get(png, "-H", "Accept-Encoding: gzip, br")
        self.assertNotIn("content-encoding", fields)
        self.assertNotIn("vary", fields)

    def test_post_is_not_cached_and_invalidates(self):
        path = cc_path("post", cc="max-age=600")
        self.get(path)
        status, fields, _ = self.get(path, "-d", "x=1")
        self.assertEqual(status, 405)  # the origin refuses POST on /cc/; not stored either
        self.assertEqual(fields["cache-status"], "pforte; fwd=method")

    def test_routes_without_cache_have_no_cache_status(self):
        _, fields, _ = self.get(cc_path("plain", cc="max-age=600"), host="plain.test")
        self.assertNotIn("cache-status", fields)

    def test_revalidation_with_304_refreshes_the_entry(self):
        path = cc_path("reval", cc="max-age=2")
        self.get(path)
        time.sleep(3.2)
        before = self.origin_count()
        status, fields, body = self.get(path)
        self.assertEqual(status, 200)
        self.assertEqual(body, b"cc reval\n")
        self.assertRegex(fields["cache-status"], r"^pforte; fwd=stale; fwd-status=304; stored; ttl=[12]$")
        self.assertEqual(self.origin_count() - before, 1)
        # The refreshed entry is fresh again.
        _, fields, _ = self.get(path)
        self.assertTrue(fields["cache-status"].startswith("pforte; hit"), fields["cache-status"])
        # A client's own conditional on a revalidated entry: 304 from the cache.
        time.sleep(3.2)
        status, fields, _ = self.get(path, "-H", "If-None-Match: " + fields["etag"])
        self.assertEqual(status, 304)
        self.assertIn("fwd=stale; fwd-status=304", fields["cache-status"])

    def test_no_cache_response_is_revalidated_every_time(self):
        path = cc_path("no-cache", cc="no-cache")
        self.get(path)
        before = self.origin_count()
        for _ in range(2):
            status, fields, _ = self.get(path)
            self.assertEqual(status, 200)
            self.assertIn("fwd=stale; fwd-status=304", fields["cache-status"])
        self.assertEqual(self.origin_count() - before, 2)

    def test_stale_if_error_on_5xx(self):
        path = cc_path("sie", cc="max-age=1")
        self.get(path)
        time.sleep(2.2)
        self.origin_fail(503)
        try:
            status, fields, body = self.get(path)
        finally:
            self.origin_fail(0)
        self.assertEqual(status, 200)
        self.assertEqual(body, b"cc sie\n")
        self.assertIn("fwd=stale; fwd-status=503", fields["cache-status"])
        self.assertIn("detail=stale-if-error", fields["cache-status"])
        self.assertNotIn("warning", fields)

    def test_5xx_without_stale_copy_passes_through(self):
        self.origin_fail(502)
        try:
            status, fields, _ = self.get(cc_path("fail-miss", cc="max-age=60"))
        finally:
            self.origin_fail(0)
        self.assertEqual(status, 502)
        self.assertIn("fwd-status=502", fields["cache-status"])

    def test_stale_while_revalidate_serves_stale_and_refreshes_once(self):
        # max-age=2: the Date header has whole seconds, so the refreshed copy is fresh for at
        # least 1 s, longer than the three requests below take; with max-age=1 it may be stale
        # at once and a fast refresh would be followed by a second one.
        path = cc_path("swr", cc="max-age=2")
        self.get(path, host="swr.test")
        time.sleep(3.2)
        before = self.origin_count()
        for _ in range(3):
            status, fields, _ = self.get(path, host="swr.test")
            self.assertEqual(status, 200)
            self.assertTrue(fields["cache-status"].startswith("pforte; hit"), fields["cache-status"])
        deadline = time.monotonic() + 5
        while self.origin_count() == before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        self.assertEqual(self.origin_count() - before, 1)

    def test_purge_on_the_admin_listener(self):
        host = "127.0.0.1:%d" % self.proxy.http
        path = cc_path("purge-one", cc="max-age=600")
        self.get(path)
        purge = ["--http1.1", "-X", "PURGE", "-H", "Host: " + host]
        code, body = harness.curl_status(*purge, self.proxy.url(path, admin=True))
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body), {"purged": 1})
        code, _ = harness.curl_status(*purge, self.proxy.url(path, admin=True))
        self.assertEqual(code, 404)
        before = self.origin_count()
        _, fields, _ = self.get(path)
        self.assertIn("fwd=uri-miss", fields["cache-status"])
        self.assertEqual(self.origin_count() - before, 1)
        # A prefix.
        for name in ("a", "b"):
            self.get(cc_path("purge-pre/" + name, cc="max-age=600"))
        code, body = harness.curl_status(*purge, self.proxy.url("/cc/purge-pre/*", admin=True))
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body), {"purged": 2})
        _, fields, _ = self.get(cc_path("purge-pre/a", cc="max-age=600"))
        self.assertIn("fwd=uri-miss", fields["cache-status"])

    def test_purge_is_refused_on_public_listeners(self):
        path = cc_path("purge-public", cc="max-age=600")
        self.get(path)
        self.get(path, h2=True)
        for h2 in (False, True):
            with self.subTest(h2=h2):
                status, fields, _ = self.get(path, h2=h2, method="PURGE")
                self.assertEqual(status, 405)
                self.assertIn("allow", fields)
        _, fields, _ = self.get(path)
        self.assertTrue(fields["cache-status"].startswith("pforte; hit"))

    def test_only_if_cached_miss_is_504(self):
        status, _, _ = self.get(cc_path("oic"), "-H", "Cache-Control: only-if-cached")
        self.assertEqual(status, 504)

    def test_access_log_has_the_cache_outcome(self):
        path = cc_path("logged", cc="max-age=600")
        self.get(path)
        self.get(path)
        lines = [l for l in self.proxy.access_lines(wait_for=2) if l["path"] == path]
        deadline = time.monotonic() + 3
        while len(lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            lines = [l for l in self.proxy.access_lines() if l["path"] == path]
        self.assertEqual([l["cache"] for l in lines], ["miss", "hit"])

    def scrape(self):
        code, body = harness.curl_status("--http1.1", self.proxy.url("/metrics", admin=True))
        self.assertEqual(code, 200)
        values = {}
        for line in body.decode().splitlines():
            if line.startswith("pforte_cache_"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def test_metrics_and_status_on_the_admin_listener(self):
        before = self.scrape()
        path = cc_path("metrics", cc="max-age=600", size=3000)
        self.get(path)
        self.get(path)
        self.get(path)
        after = self.scrape()
        self.assertEqual(after["pforte_cache_hits_total"] - before["pforte_cache_hits_total"], 2)
        self.assertEqual(after["pforte_cache_misses_total"] - before["pforte_cache_misses_total"], 1)
        for name in ("pforte_cache_stale_total", "pforte_cache_coalesced_total"):
            self.assertIn(name, after)
        self.assertGreater(after["pforte_cache_bytes"], before.get("pforte_cache_bytes", 0) + 3000)
        self.assertGreaterEqual(after["pforte_cache_objects"], 1)
        # The store never holds more than [cache] memory.
        self.assertLessEqual(after["pforte_cache_bytes"], 4 * 1024 * 1024)
        code, body = harness.curl_status("--http1.1", self.proxy.url("/status.json", admin=True))
        self.assertEqual(code, 200)
        cache = json.loads(body)["modules"]["cache"]
        self.assertEqual(cache["memory"], 4 * 1024 * 1024)
        self.assertGreater(cache["objects"], 0)
        self.assertGreater(cache["hit_ratio"], 0)
        self.assertLessEqual(cache["fill"], 1.0)
        code, body = harness.curl_status("--http1.1", self.proxy.url("/status", admin=True))
        self.assertIn(b"<h2>Cache</h2>", body)
        self.assertIn(b"Hit ratio", body)

    def reload(self, config_text=None):
        """SIGHUP (optionally with a new config text); waits for the next generation."""
        if config_text is not None:
            with open(self.proxy.config, "w") as f:
                f.write(config_text)
        status = lambda: json.loads(harness.curl("--http1.1", self.proxy.url("/status.json", admin=True)).stdout)
        before = status()["pforte"]["generation"]
        os.kill(self.proxy.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while status()["pforte"]["generation"] == before:
            self.assertLess(time.monotonic(), deadline, "reload did not happen")
            time.sleep(0.05)

    def test_cache_survives_a_reload_while_its_size_stays(self):
        path = cc_path("reload", cc="max-age=600")
        self.get(path)
        with open(self.proxy.config) as f:
            original = f.read()
        before = self.origin_count()
        self.reload()
        _, fields, _ = self.get(path)
        self.assertTrue(fields["cache-status"].startswith("pforte; hit"), fields["cache-status"])
        # Another size: a new, empty store.
        try:
            self.reload(original.replace('memory = "4MiB"', 'memory = "8MiB"'))
            _, fields, _ = self.get(path)
            self.assertIn("fwd=uri-miss", fields["cache-status"])
        finally:
            self.reload(original)
        self.assertEqual(self.origin_count() - before, 1)

    def origin_fail(self, status):
        import urllib.request
        req = urllib.request.Request(self.origin.url("/_origin/fail?status=%d" % status),
                                     method="POST", data=b"")
        urllib.request.urlopen(req, timeout=5).read()


class Coalescing(CacheTestBase):
    """Two workers: waiters on one worker are woken by a leader on the other."""
    workers = 2

    def run_h2load(self, path, *extra):
        r = subprocess.run(["h2load", "-n", "500", "-c", "50", "-m", "10", *extra,
                            self.proxy.url(path)], capture_output=True, timeout=120)
        out = r.stdout.decode(errors="replace")
        self.assertEqual(r.returncode, 0, out[-2000:])
        self.assertIn("500 succeeded", out)
        self.assertIn("status codes: 500 2xx", out)

    def test_500_concurrent_h2_requests_cause_one_origin_fetch(self):
        path = cc_path("crowd-h2", cc="max-age=600", delay_ms=500, size=20000)
        before = self.origin_count()
        self.run_h2load(path)
        self.assertEqual(self.origin_count() - before, 1)
        lines = [l for l in self.proxy.access_lines(wait_for=500) if l["path"] == path]
        outcomes = [l["cache"] for l in lines]
        self.assertEqual(outcomes.count("miss"), 1)
        self.assertGreater(outcomes.count("coalesced"), 0)

    def test_500_concurrent_h1_requests_cause_one_origin_fetch(self):
        path = cc_path("crowd-h1", cc="max-age=600", delay_ms=500)
        before = self.origin_count()
        self.run_h2load(path, "--h1")
        self.assertEqual(self.origin_count() - before, 1)

    def test_waiters_go_upstream_when_the_answer_is_not_storable(self):
        path = cc_path("crowd-private", cc="private", delay_ms=300)
        before = self.origin_count()
        r = subprocess.run(["h2load", "-n", "20", "-c", "20", self.proxy.url(path)],
                           capture_output=True, timeout=60)
        self.assertIn(b"status codes: 20 2xx", r.stdout)
        self.assertEqual(self.origin_count() - before, 20)


class OriginDown(CacheTestBase):
    def test_stale_copy_is_served_when_the_origin_is_down(self):
        path = cc_path("down", cc="max-age=1")
        status, _, _ = self.get(path)
        self.assertEqual(status, 200)
        self.origin.stop()
        time.sleep(2.2)
        status, fields, body = self.get(path)
        self.assertEqual(status, 200)
        self.assertEqual(body, b"cc down\n")
        self.assertIn("fwd=stale", fields["cache-status"])
        self.assertIn("detail=stale-if-error", fields["cache-status"])
        # Without a stored copy the error passes through.
        status, fields, _ = self.get(cc_path("down-miss"))
        self.assertEqual(status, 502)
        self.assertIn("cache-status", fields)

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        if cls.origin.proc.poll() is None:
            cls.origin.stop()
        cls._tmp.cleanup()


if __name__ == "__main__":
    harness.main()
