"""What an idle HTTP/2 connection keeps: responses use at most 1 KiB of the client's HPACK
dynamic table (so our encoder's copy of it stays small) and never index per-response values, and
a thousand h2c connections that each made ten requests and went idle stay under a bound of
resident memory per connection (nghttp2 keeps no closed streams for them), and a lower one once
they have been idle for a second (the pages of their frame buffers and stream tables are given
back)."""
import asyncio
import os
import resource
import socket
import time
import unittest

import h2frames as h2
import harness

GOOD_PATH = "/static/app.css"  # 4096 bytes from the origin
STATIC_TABLE_SIZE = 61  # RFC 7541 Appendix A: indexes above it are in the dynamic table

# Idle h2c connections opened for the memory bound, and requests made on each before it idles.
# The client keeps 100 of them busy at a time. 1,000 rather than 400: the allocator keeps a few
# MiB of freed memory around whatever the count (caches of the busy phase), which at 400
# connections moved the figure by up to ~1.5 KiB per connection from run to run (14.8-16.5 KiB
# after 2 s, on one machine, alone or beside another test); at 1,000 it is 13.7 +- 0.1.
IDLE_CONNECTIONS = 1000
REQUESTS_PER_CONNECTION = 10
# Resident memory per idle connection (KiB), 0.3 s after the last connection's last response,
# when the connections of the last waves have not trimmed yet. History at 400 connections:
# 23.4-23.6 while nghttp2 kept the closed streams, 21.4 without, 18.9-19.1 with the frame buffer
# page-aligned, 18.9-19.7 with the 1 KiB response HPACK table. At 1,000: 15.2-16.3, and on a
# later machine 17.0-17.4 for the same binary (memory the allocator keeps from the busy phase; the
# settled figure below did not move: 13.7-13.8).
IDLE_H2C_KIB_LIMIT = 18.5
# The same after two seconds of idleness, when every connection has trimmed (measured at 1,000
# connections: 13.7-13.8 while only the frame buffer was given back; 9.8-9.9 since the empty
# stream table is too, alone on the machine, and 12.0 once beside the other tests of ctest -j2).
IDLE_H2C_TRIMMED_KIB_LIMIT = 13.0
# Connections opened at once for the trim test: one wave, so none has trimmed at the first sample.
TRIM_CONNECTIONS = 100


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def uses_tcmalloc(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libtcmalloc" in f.read()


async def open_idle_h2c(port, count, requests, path):
    """Opens `count` h2c connections, makes `requests` GETs one after another on each (all must
    be 200 with a body) and returns the open writers, idle."""
    writers = []
    gate = asyncio.Semaphore(100)

    async def one():
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writers.append(writer)
            writer.write(h2.PREFACE + h2.settings())  # the default 4096-byte HPACK table
            for i in range(requests):
                sid = 2 * i + 1
                writer.write(h2.headers(sid, h2.request_fields("%s?r=%d" % (path, i))))
                await writer.drain()
                body = 0
                while True:
                    head = await reader.readexactly(9)
                    length = int.from_bytes(head[:3], "big")
                    ftype, flags = head[3], head[4]
                    fsid = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                    payload = await reader.readexactly(length) if length else b""
                    if ftype == h2.SETTINGS and not flags & h2.ACK:
                        writer.write(h2.settings(ack=True))
                    elif ftype in (h2.GOAWAY, h2.RST_STREAM):
                        raise AssertionError("%s on stream %d" % (h2.TYPE_NAMES[ftype], fsid))
                    if fsid != sid:
                        continue
                    if ftype == h2.HEADERS and h2.response_status(payload) not in (None, 200):
                        raise AssertionError("status %s" % h2.response_status(payload))
                    if ftype == h2.DATA:
                        body += len(payload)
                    if ftype in (h2.HEADERS, h2.DATA) and flags & h2.END_STREAM:
                        break
                if body == 0:
                    raise AssertionError("empty response on stream %d" % sid)

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), 120)
    return writers


class IdleH2(harness.ProxyTestCase):
    def response_blocks(self, conn, sid, timeout=5.0):
        """The header blocks of stream `sid` of `conn`, up to its end."""
        blocks = []
        deadline = time.monotonic() + timeout
        while True:
            f = conn.reader.read_frame(max(0.0, deadline - time.monotonic()))
            self.assertIsNotNone(f, "stream %d did not end" % sid)
            ftype, flags, fsid, payload = f
            if ftype == h2.SETTINGS and not flags & h2.ACK:
                conn.send(h2.settings(ack=True))
            self.assertNotIn(ftype, (h2.GOAWAY, h2.RST_STREAM))
            if fsid != sid:
                continue
            if ftype == h2.HEADERS:
                blocks.append(payload)
            if ftype in (h2.HEADERS, h2.DATA) and flags & h2.END_STREAM:
                return blocks

    def test_repeated_response_fields_are_sent_as_indexes_and_per_response_values_never(self):
        # The client allows the default 4096-byte table. pforte's encoder uses 1 KiB of it: the
        # fields every response repeats go into the table once and are then sent as indexes,
        # while x-request-id (new in every response; here the only field coded as never indexed,
        # no cache) is not.
        sock = socket.create_connection(("127.0.0.1", self.proxy.http), timeout=5)
        conn = h2.H2Connection(sock, send_preface=False)
        try:
            conn.send(h2.PREFACE + h2.settings() + h2.window_update(0, 1 << 20))
            sizes = []
            for i in range(3):
                sid = conn.new_stream()
                conn.send(h2.headers(sid, h2.request_fields("%s?r=%d" % (GOOD_PATH, i))))
                blocks = self.response_blocks(conn, sid)
                self.assertEqual(h2.response_status(blocks[0]), 200)
                block = b"".join(blocks)
                sizes.append(len(block))
                kinds = [kind for kind, _ in h2.field_representations(block)]
                self.assertGreaterEqual(kinds.count("never"), 1, "response %d: %s" % (i, kinds))
                if i == 0:
                    self.assertGreaterEqual(kinds.count("incremental"), 5, kinds)
                else:
                    dynamic = [index for kind, index in h2.field_representations(block)
                               if kind == "indexed" and index > STATIC_TABLE_SIZE]
                    self.assertGreaterEqual(len(dynamic), 5, "response %d: %s" % (i, kinds))
                    # Nothing new enters the table but, when the second turned, the date.
                    self.assertLessEqual(kinds.count("incremental"), 1, "response %d" % i)
            # The repeated heads are much smaller than the first one.
            self.assertLess(sizes[1], sizes[0] * 0.7, sizes)
            self.assertLess(sizes[2], sizes[0] * 0.7, sizes)
        finally:
            conn.close()

    def idle_rss_per_connection(self, waits, connections=IDLE_CONNECTIONS):
        """Opens `connections` h2c connections to a fresh pforte, each making
        REQUESTS_PER_CONNECTION requests and then idle, and returns the resident memory per
        connection (KiB) measured after each of `waits` (seconds, cumulative) of idleness."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2 * connections + 100:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        # A fresh process, as in bench/pass_through.sh's idle probe.
        proxy = harness.Pforte(self.workdir, **self.pforte_kwargs(self.origin))
        try:
            if not uses_tcmalloc(proxy.proc.pid):
                self.skipTest("the bound is calibrated for the tcmalloc build")
            status, _ = harness.curl_status("--http2-prior-knowledge", proxy.url(GOOD_PATH))
            self.assertEqual(status, 200)
            time.sleep(0.3)
            before = rss_kib(proxy.proc.pid)

            async def measure():
                started = time.monotonic()
                writers = await open_idle_h2c(proxy.http, connections,
                                              REQUESTS_PER_CONNECTION, GOOD_PATH)
                self.last_open_seconds = time.monotonic() - started
                try:
                    samples = []
                    waited = 0.0
                    for wait in waits:
                        await asyncio.sleep(wait - waited)
                        waited = wait
                        samples.append(rss_kib(proxy.proc.pid))
                    return samples
                finally:
                    for w in writers:
                        w.transport.abort()

            samples = asyncio.run(measure())
            print("%d connections opened and served in %.2f s" %
                  (connections, self.last_open_seconds))
            per_connection = [(rss - before) / connections for rss in samples]
            for wait, rss, kib in zip(waits, samples, per_connection):
                print("%d idle h2c after %.1f s: RSS %d -> %d KiB, %.2f KiB per connection" %
                      (connections, wait, before, rss, kib))
            return per_connection
        finally:
            proxy.stop()

    @unittest.skipIf(os.environ.get("PFORTE_SANITIZED") == "1", "sanitizers inflate memory")
    def test_idle_h2c_connections_after_ten_requests_stay_under_the_bound(self):
        early, late = self.idle_rss_per_connection([0.3, 2.0])
        self.assertLess(early, IDLE_H2C_KIB_LIMIT)
        self.assertLess(late, IDLE_H2C_TRIMMED_KIB_LIMIT)

    @unittest.skipIf(os.environ.get("PFORTE_SANITIZED") == "1", "sanitizers inflate memory")
    def test_connections_idle_for_a_second_give_back_frame_buffer_and_stream_table(self):
        # After a second without a stream a connection trims: nghttp2's 16 KiB frame buffer
        # keeps no pages (the ten responses had written at least its first one, 4 KiB), nor does
        # its table of streams, empty then (one 4 KiB page). Nothing else allocates or frees
        # between the two samples, so their difference is the trim (measured: 8.0-8.1 KiB per
        # connection; 4.0 when only the frame buffer was given back).
        # The first connections are idle from their last response on: if opening them all took
        # longer than 0.7 s (a machine busy with other tests), some trimmed before the 0.3 s
        # sample and the difference is smaller. Such a measurement is taken again (up to three
        # times), not judged.
        for _ in range(3):
            early, late = self.idle_rss_per_connection([0.3, 2.0], TRIM_CONNECTIONS)
            if self.last_open_seconds < 0.6:
                break
            print("opening took %.2f s: some connections may have trimmed before the first "
                  "sample; measuring again" % self.last_open_seconds)
        else:
            self.skipTest("opening %d connections took over 0.6 s three times" % TRIM_CONNECTIONS)
        self.assertGreater(early - late, 7.5)


if __name__ == "__main__":
    harness.main()
