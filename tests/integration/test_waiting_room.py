"""The waiting room end to end: the real pforte in front of the origin simulator's /login.
A burst gets rate + burst through and the rest a page or a 429 JSON answer; admissions pass on
later requests; bad cookies are new arrivals; tickets are served in order; the admin listener
pauses and resumes a room; a restart with state_file keeps every place; h2 behaves like h1; and
`pforte -t` checks room configs."""
import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import harness

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(kind, room, epoch, number, issued_at, expires_at, key=KEY):
    """A `pforte_wr` value in the wire form of modules/waiting_room/token.h (kind 1 = ticket,
    2 = admission), signed with `key`."""
    payload = bytes([1, kind, len(room)]) + room.encode()
    payload += varint(epoch) + varint(number) + varint(issued_at) + varint(expires_at - issued_at)
    return b64url(payload + hmac.new(key.encode(), payload, hashlib.sha256).digest())


def read_token(value):
    """(kind, room, epoch, number, issued_at, expires_at) of a cookie value (MAC not checked)."""
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    kind, room_len = raw[1], raw[2]
    room = raw[3:3 + room_len].decode()
    pos = 3 + room_len
    fields = []
    for _ in range(4):
        n, shift = 0, 0
        while True:
            b = raw[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        fields.append(n)
    epoch, number, issued, lifetime = fields
    return kind, room, epoch, number, issued, issued + lifetime


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> [values]
        self.body = body

    def header(self, name):
        values = self.headers.get(name, [])
        return values[0] if values else None

    @property
    def cookie(self):
        for v in self.headers.get("set-cookie", []):
            m = re.match(r"pforte_wr=([^;]*)", v)
            if m:
                return m.group(1)
        return None

    @property
    def from_origin(self):
        return self.header("server") == "pforte-origin"

    def json(self):
        return json.loads(self.body)


def get(port, path="/login", cookie=None, headers=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = "other=1; pforte_wr=%s" % cookie
        conn.request(method, path, headers=h)
        r = conn.getresponse()
        fields = {}
        for name, value in r.getheaders():
            fields.setdefault(name.lower(), []).append(value)
        return Answer(r.status, fields, r.read())
    finally:
        conn.close()


def login_count(origin):
    return origin.stats()["paths"]["login"]


def room_toml(name="login", **keys):
    lines = ["[waiting_room.%s]" % name]
    for k, v in keys.items():
        lines.append("%s = %s" % (k, json.dumps(v) if isinstance(v, str) else v))
    return "\n".join(lines) + "\n"


class WaitingRoomCase(harness.OriginTestCase):
    """One origin per class; each test starts the pforte (and room) it needs."""

    def setUp(self):
        self.origin.reset()
        tmp = tempfile.TemporaryDirectory(prefix="pforte-wr-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name
        self.key_file = os.path.join(self.workdir, "wr.key")
        with open(self.key_file, "w") as f:
            f.write("# first line signs\n%s\n" % KEY)

    def start(self, tls=False, workers=2, room_paths=("/login",), **room):
        room.setdefault("secret_file", self.key_file)
        proxy = harness.Pforte(
            self.workdir, {"platform": 'servers = ["%s"]' % self.origin.address},
            routes=['path_prefix = "%s"\nupstream = "platform"\nwaiting_room = "login"' % path
                    for path in room_paths] + ['path_prefix = "/"\nupstream = "platform"'],
            tls=tls, workers=workers, admin=True, extra=room_toml(**room))
        self.addCleanup(proxy.stop)
        return proxy


class Admission(WaitingRoomCase):
    def test_burst_lets_only_rate_plus_burst_reach_the_origin(self):
        proxy = self.start(admit_rate=5, admit_burst=5, refresh="30s")
        n = 200
        barrier = threading.Barrier(n)

        def arrive(i):
            barrier.wait()
            headers = {"Accept": "application/json"} if i % 2 else {"Accept-Language": "en"}
            return get(proxy.http, headers=headers)

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
            answers = list(pool.map(arrive, range(n)))
        elapsed = time.monotonic() - started
        passed = [a for a in answers if a.from_origin]
        waiting = [a for a in answers if not a.from_origin]
        reached = login_count(self.origin)
        self.assertEqual(reached, len(passed))
        # At most burst + rate × elapsed (+1 for a token refilled at the edge of the span).
        self.assertGreaterEqual(reached, 5)
        self.assertLessEqual(reached, 5 + int(5 * elapsed) + 1, "elapsed %.2fs" % elapsed)
        positions = set()
        for a in waiting:
            self.assertIn(a.status, (200, 429))
            self.assertEqual(a.header("cache-control"), "no-store")
            self.assertIsNotNone(a.cookie)
            if a.status == 429:
                body = a.json()
                self.assertEqual(set(body),
                                 {"position", "eta_seconds", "retry_after", "retry_after_ms"})
                self.assertEqual(int(a.header("retry-after")), body["retry_after"])
                # Whole seconds are the exact wait rounded (to nearest, at least 1).
                self.assertEqual(body["retry_after"],
                                 max(1, (body["retry_after_ms"] + 500) // 1000))
                positions.add(body["position"])
            else:
                self.assertIn(b"Your place in line", a.body)
                m = re.search(rb"<strong>(\d+)</strong>", a.body)
                positions.add(int(m.group(1)))
        self.assertGreaterEqual(min(positions), 1)
        # Every waiting visitor holds a different ticket, numbered in arrival order from 1.
        numbers = sorted(read_token(a.cookie)[3] for a in waiting)
        self.assertEqual(numbers, list(range(1, len(waiting) + 1)))
        for line in proxy.access_lines(wait_for=n):
            if line["path"] == "/login":
                self.assertIn(line["waiting_room"], ("admitted", "queued"))

    def test_page_in_german_and_english_refreshes_itself_without_cost(self):
        proxy = self.start(admit_rate=0.1, admit_burst=1, refresh="10s", jitter=0.5)
        self.assertTrue(get(proxy.http).from_origin)
        before = login_count(self.origin)
        de = get(proxy.http, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5",
                                      "Accept": "text/html,*/*;q=0.8"})
        en = get(proxy.http, headers={"Accept-Language": "en-GB,en;q=0.9"})
        self.assertEqual(login_count(self.origin), before)  # the page costs the origin nothing
        for answer, lang, words in ((de, "de", b"Ihr Platz in der Schlange"),
                                    (en, "en", b"Your place in line")):
            self.assertEqual(answer.status, 200)
            self.assertFalse(answer.from_origin)
            self.assertEqual(answer.header("cache-control"), "no-store")
            self.assertTrue(answer.header("content-type").startswith("text/html"))
            self.assertIn(('lang="%s"' % lang).encode(), answer.body)
            self.assertIn(words, answer.body)
            m = re.search(rb'<meta http-equiv="refresh" content="(\d+)"', answer.body)
            self.assertIsNotNone(m, answer.body)
            self.assertTrue(5 <= int(m.group(1)) <= 15, m.group(1))  # 10 s ± 50 %
            self.assertNotRegex(answer.body, rb'(src|href)="?https?:')  # nothing external
        self.assertIn(b"<strong>1</strong>", de.body)
        self.assertIn(b"<strong>2</strong>", en.body)

    def test_operator_template_replaces_the_page(self):
        page = os.path.join(self.workdir, "page.html")
        with open(page, "w") as f:
            f.write("<p>Room {{room}}: place {{position}}, again in {{refresh_seconds}} s</p>")
        proxy = self.start(admit_rate=0.1, admit_burst=1, template=page)
        get(proxy.http)
        a = get(proxy.http)
        self.assertRegex(a.body.decode(), r"^<p>Room login: place 1, again in \d+ s</p>$")

    def test_admitted_cookie_passes_on_following_requests(self):
        proxy = self.start(admit_rate=0.1, admit_burst=1, tls=True)
        first = get(proxy.http)
        self.assertTrue(first.from_origin)
        self.assertIsNotNone(first.cookie)
        set_cookie = first.header("set-cookie")
        for attr in ("HttpOnly", "SameSite=Lax", "Path=/"):
            self.assertIn(attr, set_cookie)
        self.assertNotIn("Secure", set_cookie)  # cleartext
        for _ in range(5):
            a = get(proxy.http, cookie=first.cookie, method="GET")
            self.assertTrue(a.from_origin)
            self.assertIsNone(a.cookie)  # nothing to renew yet
        # Someone without the cookie waits meanwhile.
        self.assertFalse(get(proxy.http).from_origin)
        lines = [l["waiting_room"] for l in proxy.access_lines(wait_for=7) if l["path"] == "/login"]
        self.assertEqual(lines[:6], ["admitted"] + ["passed"] * 5)
        # Over TLS the cookie is Secure.
        r = harness.curl("-k", "-D", "-", "-o", "/dev/null", proxy.url("/login", tls=True),
                         "-H", "Accept: application/json")
        self.assertRegex(r.stdout.decode(), r"(?i)set-cookie: pforte_wr=[^\r\n]*; Secure")

    def test_the_platform_never_sees_the_room_cookie(self):
        proxy = self.start(admit_rate=0.1, admit_burst=1, room_paths=("/headers",))
        first = get(proxy.http, path="/headers", headers={"Cookie": "sid=7"})
        self.assertTrue(first.from_origin)
        self.assertIsNotNone(first.cookie)
        for cookies in ("sid=7; pforte_wr=%s; lang=de" % first.cookie,
                        "pforte_wr=%s" % first.cookie):
            a = get(proxy.http, path="/headers", headers={"Cookie": cookies})
            self.assertTrue(a.from_origin)
            seen = [v for n, v in a.json()["headers"] if n.lower() == "cookie"]
            self.assertEqual(seen, ["sid=7; lang=de"] if "sid" in cookies else [])

    def test_bad_cookies_are_new_arrivals_never_errors(self):
        proxy = self.start(admit_rate=0.1, admit_burst=1)
        first = get(proxy.http)
        self.assertTrue(first.from_origin)
        kind, room, epoch, number, issued, expires = read_token(first.cookie)
        self.assertEqual((kind, room), (2, "login"))
        now = int(time.time())
        tampered = first.cookie[:20] + ("A" if first.cookie[20] != "A" else "B") + first.cookie[21:]
        cases = {
            "tampered": tampered,
            "forged": make_token(2, "login", epoch, number, now, now + 900, key="x" * 64),
            "stretched": make_token(2, "login", epoch, number, issued, expires + 86400,
                                    key="y" * 64),
            "expired": make_token(2, "login", epoch, number, now - 1000, now - 100),
            "other room": make_token(2, "exam", epoch, number, now, now + 900),
            "old epoch": make_token(2, "login", epoch ^ 1, number, now, now + 900),
            "garbage": "%%%not-a-token%%%",
        }
        positions = []
        for what, value in cases.items():
            a = get(proxy.http, cookie=value)
            self.assertEqual(a.status, 200, what)
            self.assertFalse(a.from_origin, what)
            self.assertIn(b"Your place in line", a.body, what)
            positions.append(int(re.search(rb"<strong>(\d+)</strong>", a.body).group(1)))
            self.assertEqual(read_token(a.cookie)[0], 1, what)  # a fresh ticket
        self.assertEqual(positions, list(range(1, len(cases) + 1)))
        # The genuine cookie still passes.
        self.assertTrue(get(proxy.http, cookie=first.cookie).from_origin)

    def test_earlier_tickets_get_in_first(self):
        proxy = self.start(admit_rate=4, admit_burst=1, refresh="1s")
        self.assertTrue(get(proxy.http).from_origin)  # takes the only token
        tickets = []
        for _ in range(4):
            a = get(proxy.http, headers={"Accept": "application/json"})
            self.assertEqual(a.status, 429)
            tickets.append(a.cookie)
        self.assertEqual([read_token(t)[3] for t in tickets], [1, 2, 3, 4])
        order = []
        deadline = time.monotonic() + 10
        while len(order) < 4 and time.monotonic() < deadline:
            for i in reversed(range(4)):  # later tickets ask first
                if i in order:
                    continue
                a = get(proxy.http, cookie=tickets[i], headers={"Accept": "application/json"})
                if a.from_origin:
                    order.append(i)
                else:
                    tickets[i] = a.cookie or tickets[i]
            time.sleep(0.05)
        self.assertEqual(order, [0, 1, 2, 3])

    def test_a_called_visitor_who_finds_no_token_gets_the_next_one_booked(self):
        # Rate 0.5, burst 1: tickets 1 and 2 are called; ticket 1 takes the one token and ticket 2
        # gets the next one booked, 2 s ahead: told to come back then (exactly in
        # retry_after_ms), and let in when it is due, not before. Coming back within a second of
        # it, the request is held at the edge until it is due instead of being sent away again.
        proxy = self.start(admit_rate=0.5, admit_burst=1, refresh="30s")
        json_accept = {"Accept": "application/json"}
        self.assertTrue(get(proxy.http).from_origin)  # takes the only token
        one = get(proxy.http, headers=json_accept)
        two = get(proxy.http, headers=json_accept)
        time.sleep(4.2)  # both called, the token back
        self.assertTrue(get(proxy.http, cookie=one.cookie, headers=json_accept).from_origin)
        booked = get(proxy.http, cookie=two.cookie, headers=json_accept)
        self.assertEqual(booked.status, 429)
        body = booked.json()
        self.assertEqual(body["position"], 0)
        self.assertAlmostEqual(body["retry_after_ms"], 2000, delta=150)
        self.assertEqual(booked.header("retry-after"), str(body["retry_after_ms"] // 1000))
        self.assertEqual(read_token(booked.cookie)[:2], (3, "login"))  # a scheduled admission
        due = time.monotonic() + body["retry_after_ms"] / 1000
        early = get(proxy.http, cookie=booked.cookie, headers=json_accept)
        self.assertEqual(early.status, 429)
        self.assertIsNone(early.cookie)  # nothing changed: the booking stands
        time.sleep(max(0, due - 0.7 - time.monotonic()))
        started = time.monotonic()
        held = get(proxy.http, cookie=booked.cookie, headers=json_accept)
        self.assertTrue(held.from_origin)
        self.assertGreaterEqual(time.monotonic(), due - 0.05)  # held until it was due
        self.assertGreater(time.monotonic() - started, 0.5)
        self.assertEqual(read_token(held.cookie)[0], 2)  # now an admission
        outcomes = [l["waiting_room"] for l in proxy.access_lines(wait_for=7)]
        self.assertEqual(outcomes[-3:], ["scheduled", "scheduled", "admitted"])
        metrics = get(proxy.admin, path="/metrics").body.decode()
        self.assertRegex(metrics, r'pforte_waiting_room_booked_total\{room="login"\} 1\b')
        state = get(proxy.admin, path="/waiting-room/login").json()
        self.assertEqual(state["booked"], 1)
        self.assertEqual(state["booked_ahead_ms"], 0)  # all due by now
        self.assertEqual(login_count(self.origin), 3)

    def test_a_visitor_the_platform_turned_away_waits_for_a_new_token(self):
        # /status/503 stands for an overloaded login: the admission it used is taken back, so
        # the retry cannot pass the room without a token (retries stay inside admit_rate).
        proxy = self.start(admit_rate=0.5, admit_burst=1, refresh="1s",
                           room_paths=("/status/",))
        json_accept = {"Accept": "application/json"}
        first = get(proxy.http, path="/status/503", headers=json_accept)
        self.assertEqual(first.status, 503)
        self.assertTrue(first.from_origin)
        kind, room, _, number, _, _ = read_token(first.cookie)
        self.assertEqual((kind, room, number), (1, "login", 1))  # a ticket, not an admission
        retry = get(proxy.http, path="/status/503", cookie=first.cookie, headers=json_accept)
        self.assertEqual(retry.status, 429)
        self.assertFalse(retry.from_origin)
        self.assertEqual(read_token(retry.cookie)[3], 1)  # same ticket, same place
        deadline = time.monotonic() + 6
        cookie = retry.cookie
        made = 2  # requests so far
        while time.monotonic() < deadline:
            time.sleep(0.25)
            again = get(proxy.http, path="/status/503", cookie=cookie, headers=json_accept)
            made += 1
            if again.from_origin:
                break
            cookie = again.cookie or cookie
        self.assertTrue(again.from_origin, "the ticket never got a new token")
        self.assertGreaterEqual(time.monotonic() - deadline + 6, 1.5)  # rate 0.5/s: ~2 s
        metrics = get(proxy.admin, path="/metrics").body.decode()
        self.assertRegex(metrics, r'pforte_waiting_room_given_back_total\{room="login"\} 2\b')
        # Every request's line: the last one may be logged just after its answer arrived.
        outcomes = [l["waiting_room"] for l in proxy.access_lines(wait_for=made)
                    if l["path"] == "/status/503"]
        # Turned away, then waiting (never passing) until the new token, then turned away again.
        self.assertEqual(outcomes[0], "given_back")
        self.assertEqual(outcomes[-1], "given_back")
        self.assertTrue(set(outcomes[1:-1]) <= {"queued", "scheduled"}, outcomes)


class Operations(WaitingRoomCase):
    def admin(self, proxy, path, method="POST"):
        return get(proxy.admin, path=path, method=method)

    def test_pause_and_resume_on_the_admin_listener(self):
        proxy = self.start(admit_rate=100, admit_burst=100)
        paused = self.admin(proxy, "/waiting-room/login/pause")
        self.assertEqual(paused.status, 200)
        self.assertTrue(paused.json()["paused"])
        a = get(proxy.http, headers={"Accept": "application/json"})
        self.assertEqual(a.status, 429)  # tokens are there, but nobody gets in
        page = get(proxy.http, headers={"Accept-Language": "en"})
        self.assertIn(b"paused", page.body)
        state = self.admin(proxy, "/waiting-room/login", method="GET").json()
        self.assertEqual((state["paused"], state["queue_length"], state["rate"]), (True, 2, 100))
        self.assertIsNone(state["opens_at"])
        resumed = self.admin(proxy, "/waiting-room/login/resume")
        self.assertFalse(resumed.json()["paused"])
        deadline = time.monotonic() + 5
        while not get(proxy.http, cookie=a.cookie).from_origin:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        # The operator's view: metrics and the status page. At 100/s both tickets are called
        # within 20 ms of the resume; the admission above may come sooner than the second call.
        deadline = time.monotonic() + 2
        while True:
            metrics = self.admin(proxy, "/metrics", method="GET").body.decode()
            if re.search(r'(?m)^pforte_waiting_room_queue_length\{room="login"\} 0$', metrics):
                break
            self.assertLess(time.monotonic(), deadline, "nobody should be left in line")
            time.sleep(0.02)
        self.assertRegex(metrics, r'(?m)^pforte_waiting_room_admitted_total\{room="login"\} 1$')
        self.assertRegex(metrics, r'(?m)^pforte_waiting_room_abandoned_total\{room="login"\} 0$')
        self.assertRegex(metrics, r'(?m)^pforte_waiting_room_wait_seconds_count\{room="login"\} 1$')
        status = json.loads(self.admin(proxy, "/status.json", method="GET").body)
        rooms = status["modules"]["waiting_room"]["rooms"]
        self.assertEqual([(r["room"], r["paused"]) for r in rooms], [("login", False)])
        self.assertIn(b"Waiting rooms", self.admin(proxy, "/status", method="GET").body)
        self.assertEqual(self.admin(proxy, "/waiting-room/nope/pause").status, 404)
        self.assertEqual(self.admin(proxy, "/waiting-room/login/pause", method="GET").status, 405)
        self.assertEqual(self.admin(proxy, "/waiting-room/login/explode").status, 404)

    def test_restart_with_state_file_keeps_a_ticket_and_its_place(self):
        state_file = os.path.join(self.workdir, "login.room")
        room = dict(admit_rate=0.1, admit_burst=1, state_file=state_file)
        proxy = self.start(**room)
        self.assertTrue(get(proxy.http).from_origin)
        first = get(proxy.http, headers={"Accept": "application/json"})
        second = get(proxy.http, headers={"Accept": "application/json"})
        self.assertEqual((first.json()["position"], second.json()["position"]), (1, 2))
        proxy.stop()  # SIGTERM: shutdown() saves the room
        self.assertTrue(os.path.exists(state_file))
        again = self.start(**room)
        a = get(again.http, cookie=second.cookie, headers={"Accept": "application/json"})
        self.assertEqual(a.status, 429)
        self.assertEqual(a.json()["position"], 2)
        self.assertEqual(read_token(a.cookie)[3], read_token(second.cookie)[3])  # same ticket
        newcomer = get(again.http, headers={"Accept": "application/json"})
        self.assertEqual(newcomer.json()["position"], 3)

    def test_reload_keeps_every_place_even_with_a_new_rate(self):
        proxy = self.start(admit_rate=0.1, admit_burst=1)
        self.assertTrue(get(proxy.http).from_origin)
        tickets = [get(proxy.http, headers={"Accept": "application/json"}) for _ in range(2)]
        self.assertEqual([t.json()["position"] for t in tickets], [1, 2])
        for rate, generation in ((0.1, 2), (0.05, 3)):  # same settings, then a new rate
            with open(proxy.config) as f:
                text = f.read()
            with open(proxy.config, "w") as f:
                f.write(re.sub(r"admit_rate = .*", "admit_rate = %s" % rate, text))
            os.kill(proxy.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 10
            while json.loads(self.admin(proxy, "/status.json", "GET").body)["pforte"][
                    "generation"] != generation:
                self.assertLess(time.monotonic(), deadline, proxy.error_text())
                time.sleep(0.05)
            a = get(proxy.http, cookie=tickets[1].cookie, headers={"Accept": "application/json"})
            self.assertEqual(a.json()["position"], 2)
            self.assertEqual(read_token(a.cookie)[3], read_token(tickets[1].cookie)[3])
        state = json.loads(self.admin(proxy, "/waiting-room/login", "GET").body)
        self.assertEqual((state["rate"], state["issued"]), (0.05, 2))

    def test_h2_goes_through_the_room_like_h1(self):
        proxy = self.start(admit_rate=0.1, admit_burst=1)
        jar = os.path.join(self.workdir, "jar")

        def h2(*args):
            r = harness.curl("--http2-prior-knowledge", "-D", "-", "-o", "-", *args,
                             proxy.url("/login"))
            head, _, body = r.stdout.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/2 "), r.stdout[:200])
            return int(head.split()[1]), head.decode().lower(), body

        status, head, _ = h2("-c", jar)
        self.assertEqual(status, 200)
        self.assertIn("server: pforte-origin", head)
        status, head, body = h2("-H", "Accept: application/json")
        self.assertEqual(status, 429)
        self.assertEqual(json.loads(body)["position"], 1)
        self.assertIn("retry-after:", head)
        # The admission from the first h2 request passes.
        status, head, _ = h2("-b", jar)
        self.assertIn("server: pforte-origin", head)


class ConfigCheck(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="pforte-wr-")
        self.addCleanup(tmp.cleanup)
        self.workdir = tmp.name
        self.key = os.path.join(self.workdir, "wr.key")
        with open(self.key, "w") as f:
            f.write(KEY + "\n")

    def check(self, text):
        path = os.path.join(self.workdir, "t.toml")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([harness.PFORTE_BIN, "-t", "-c", path], capture_output=True, timeout=10)
        return r.returncode, path, r.stderr.decode()

    BASE = ('[[listener]]\naddress = "127.0.0.1:1"\n[upstream.app]\nservers = ["127.0.0.1:2"]\n'
            '[[route]]\nupstream = "app"\nwaiting_room = "login"\n[waiting_room.login]\n')

    def test_valid_room_passes(self):
        code, _, err = self.check(self.BASE + 'admit_rate = 5\nsecret_file = "%s"\n' % self.key)
        self.assertEqual(code, 0, err)

    def test_bad_room_configs_are_refused_with_file_line_col(self):
        short = os.path.join(self.workdir, "short.key")
        with open(short, "w") as f:
            f.write("short\n")
        cases = [
            (self.BASE + 'admit_rate = 5\nsecret_file = "%s"\n' % short, 10, 15, "shorter than"),
            (self.BASE + 'admit_rate = 5\nsecret_file = "%s/none"\n' % self.workdir, 10, 15,
             "cannot open"),
            (self.BASE + 'admit_rate = -1\nsecret_file = "%s"\n' % self.key, 9, 14, "admit_rate"),
            (self.BASE + 'admit_rate = 5\nsecret_file = "%s"\nspeed = 3\n' % self.key, 11, 1,
             'unknown key "speed"'),
            (self.BASE.replace('waiting_room = "login"', 'waiting_room = "logon"') +
             'admit_rate = 5\nsecret_file = "%s"\n' % self.key, 7, 16, 'unknown waiting room'),
        ]
        for text, line, col, words in cases:
            code, path, err = self.check(text)
            self.assertEqual(code, 1, err)
            self.assertRegex(err, r"(?m)^%s:%d:%d: .*%s" % (re.escape(path), line, col,
                                                            re.escape(words)))


@unittest.skipUnless(shutil.which("chromium"), "chromium is not installed: no screenshot")
class Screenshot(WaitingRoomCase):
    def test_waiting_page_renders_in_chromium(self):
        proxy = self.start(admit_rate=0.1, admit_burst=1)
        get(proxy.http)
        page = get(proxy.http, headers={"Accept-Language": "de"})
        html = os.path.join(self.workdir, "page.html")
        with open(html, "wb") as f:
            f.write(page.body)
        os.makedirs(harness.ARTIFACTS, exist_ok=True)
        shot = os.path.join(harness.ARTIFACTS, "waiting-room.png")
        if os.path.exists(shot):
            os.remove(shot)
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                        "--screenshot=%s" % shot, "--window-size=800,600", "file://" + html],
                       capture_output=True, timeout=60)
        self.assertTrue(os.path.exists(shot))


if __name__ == "__main__":
    harness.main()
