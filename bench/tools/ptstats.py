#!/usr/bin/env python3
"""Helpers for bench/pass_through.sh (standard library only).

  ptstats.py parse h2load|wrk FILE
      one TSV line: rps mean_ms max_ms p50_ms p99_ms ok non2xx errors ('-' = not found)
  ptstats.py p99 H2LOAD_LOG_FILE
      the 99th percentile of the request durations (ms) in an h2load --log-file
  ptstats.py origin-stats JSON_TEXT
      'requests connections' from pforte-origin's /_origin/stats answer ('- -' if unreadable)
  ptstats.py summarize RUN_DIR
      markdown tables (medians per proxy and protocol, ratios pforte / best peer, memory)
      from RUN_DIR/runs.tsv and RUN_DIR/mem.tsv
"""
import json
import os
import re
import statistics
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
TESTS = [("h2tls", "h2 over TLS (h2load)"), ("h1", "HTTP/1.1 (wrk)")]


def to_ms(tok):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", tok)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_h2load(text):
    r = dict(rps=None, mean=None, max=None, p50=None, p99=None, ok=None, non2xx=None, errors=None)
    m = re.search(r"finished in [0-9.]+\w*, ([0-9.]+) req/s", text)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        _total, _started, _done, _succ, failed, errored, tmo = map(int, m.groups())
        r["errors"] = failed + errored + tmo
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if m:
        s2, s3, s4, s5 = map(int, m.groups())
        r["ok"], r["non2xx"] = s2, s3 + s4 + s5
    m = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
    if m:
        r["max"], r["mean"] = to_ms(m.group(2)), to_ms(m.group(3))
    m = re.search(r"^p99 from --log-file: ([0-9.]+) ms", text, re.M)   # added by bench/cache.sh
    if m:
        r["p99"] = float(m.group(1))
    return r


def parse_wrk(text):
    r = dict(rps=None, mean=None, max=None, p50=None, p99=None, ok=None, non2xx=0, errors=0)
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if m:
        r["mean"], r["max"] = to_ms(m.group(1)), to_ms(m.group(3))
    for q, key in (("50", "p50"), ("99", "p99")):
        m = re.search(r"^\s+" + q + r"%\s+(\S+)", text, re.M)
        if m:
            r[key] = to_ms(m.group(1))
    m = re.search(r"(\d+) requests in", text)
    total = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["errors"] = sum(map(int, m.groups()))
    if total is not None:
        r["ok"] = total - r["non2xx"]
    return r


def cmd_parse(kind, path):
    text = open(path, errors="replace").read()
    r = parse_h2load(text) if kind == "h2load" else parse_wrk(text)
    out = []
    for c in ["rps", "mean", "max", "p50", "p99", "ok", "non2xx", "errors"]:
        v = r[c]
        out.append("-" if v is None else ("%.3f" % v if isinstance(v, float) else str(v)))
    print("\t".join(out))


def cmd_p99(path):
    """h2load --log-file lines: start time (us), status, duration (us)"""
    durations = []
    for ln in open(path, errors="replace"):
        parts = ln.split()
        if len(parts) >= 3 and parts[2].isdigit():
            durations.append(int(parts[2]))
    if not durations:
        print("-")
        return
    durations.sort()
    print("%.3f" % (durations[min(len(durations) - 1, int(0.99 * len(durations)))] / 1000.0))


def cmd_origin_stats(text):
    try:
        d = json.loads(text)
        print(int(d["requests"]), int(d["connections"]))
    except Exception:
        print("- -")


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def f(v, nd=0, thousands=False):
    if v is None:
        return "-"
    if thousands:
        return "{:,.0f}".format(v)
    return ("%." + str(nd) + "f") % v


def table_head(title, columns, note=None, level=3):
    """a markdown section title, an optional note paragraph and a table's header rows"""
    print("#" * level + " " + title)
    print()
    if note:
        print(note)
        print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def read_tsv(path):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return []
    if not lines:
        return []
    head = lines[0].split("\t")
    return [dict(zip(head, ln.split("\t"))) for ln in lines[1:] if ln.strip()]


def read_cpu(run):
    """(proxy, test) -> the microseconds of proxy CPU per request of each round in cpu.tsv
    (bench/lib.sh cpu_rounds); {} when the rounds were not run."""
    out = {}
    path = os.path.join(run, "cpu.tsv")
    for r in read_tsv(path) if os.path.exists(path) else []:
        us = num(r["us_per_req"])
        if us and int(num(r["requests"]) or 0) > 0:
            out.setdefault((r["proxy"], r["test"]), []).append(us)
    return out


def us_per_req(r):
    """proxy CPU time per proxied request (origin requests during the run, warm-up included)"""
    cpu, wall, req = num(r.get("proxy_cpu")), num(r.get("wall_s")), num(r.get("origin_req"))
    if cpu is None or wall is None or not req:
        return None
    return cpu / 100.0 * wall * 1e6 / req


def cmd_summarize(run):
    runs = read_tsv(run + "/runs.tsv")
    mem = read_tsv(run + "/mem.tsv")
    proxies = []
    for r in runs + mem:
        if r["proxy"] not in proxies:
            proxies.append(r["proxy"])
    if "pforte" in proxies:      # pforte first, then the peers in run order
        proxies.remove("pforte")
        proxies.insert(0, "pforte")

    cell = {}
    for p in proxies:
        for t, _ in TESTS:
            rows = [r for r in runs if r["proxy"] == p and r["test"] == t]
            if not rows:
                continue
            bad = 0
            missing = 0
            for r in rows:
                if r["ok"] == "-" or r["rps"] == "-":
                    missing += 1
                bad += int(num(r["non2xx"]) or 0) + int(num(r["errors"]) or 0)
            reqs = [num(r["origin_req"]) for r in rows]
            conns = [num(r["origin_conn"]) for r in rows]
            tot_req = sum(v for v in reqs if v is not None)
            tot_conn = sum(v for v in conns if v is not None)
            cell[(p, t)] = dict(
                n=len(rows), rps=med([num(r["rps"]) for r in rows]),
                rps_min=min((num(r["rps"]) for r in rows if num(r["rps"]) is not None), default=None),
                rps_max=max((num(r["rps"]) for r in rows if num(r["rps"]) is not None), default=None),
                mean=med([num(r["mean_ms"]) for r in rows]), p50=med([num(r["p50_ms"]) for r in rows]),
                p99=med([num(r["p99_ms"]) for r in rows]), bad=bad, missing=missing,
                srv=med([num(r["cpu_srv_core"]) for r in rows]), cli=med([num(r["cpu_cli_core"]) for r in rows]),
                proc=med([num(r["proxy_cpu"]) for r in rows]),
                ocpu=med([num(r["origin_cpu"]) for r in rows]),
                conn_per_req=(tot_conn / tot_req) if tot_req else None,
                us_per_req=med([us_per_req(r) for r in rows]))

    print("### Throughput and latency (median of %s runs per cell)" % (max((c["n"] for c in cell.values()), default=0)))
    print()
    print("| proxy | h2 TLS req/s (min-max) | h2 mean ms | h1 req/s (min-max) | h1 p50 ms | h1 p99 ms | non-2xx + errors (h2 / h1) |")
    print("|---|---|---|---|---|---|---|")
    for p in proxies:
        a, b = cell.get((p, "h2tls")), cell.get((p, "h1"))

        def rr(c):
            if not c:
                return "-"
            return "%s (%s-%s)" % (f(c["rps"], thousands=True), f(c["rps_min"], thousands=True), f(c["rps_max"], thousands=True))

        def bd(c):
            if not c:
                return "-"
            s = str(c["bad"])
            if c["bad"] or c["missing"]:
                s += " **FLAG**" + (" (%d runs unparsable)" % c["missing"] if c["missing"] else "")
            return s
        name = "**%s**" % p if p == "pforte" else p
        print("| %s | %s | %s | %s | %s | %s | %s / %s |" % (
            name, rr(a), f(a and a["mean"], 2), rr(b), f(b and b["p50"], 2), f(b and b["p99"], 2), bd(a), bd(b)))
    print()
    table_head("Ratios pforte / best peer (median req/s of the same invocation)",
               ["protocol", "pforte req/s", "best peer", "peer req/s", "ratio", "target"])
    for t, label in TESTS:
        pc = cell.get(("pforte", t))
        peers = [(cell[(p, t)]["rps"], p) for p in proxies if p != "pforte" and (p, t) in cell
                 and cell[(p, t)]["rps"] is not None]
        if not pc or pc["rps"] is None or not peers:
            print("| %s | %s | - | - | - | >= 1.20 |" % (label, f(pc and pc["rps"], thousands=True)))
            continue
        best_rps, best = max(peers)
        print("| %s | %s | %s | %s | %.2f | >= 1.20 |" % (
            label, f(pc["rps"], thousands=True), best, f(best_rps, thousands=True), pc["rps"] / best_rps))
    print()
    # req/s only compares the proxies when each of them is the limit. When the load generator's
    # core is saturated (it shares core 1 with the origin under ORIGIN_CPU=1), req/s measures the
    # client; the proxy's CPU time per request still compares the proxies.
    table_head("Ratios by CPU per proxied request (best peer's us/req / pforte's; > 1 = pforte needs less)",
               ["protocol", "pforte us/req", "best peer", "peer us/req", "ratio", "client core % (pforte / peer)"],
               note="Read these when the client core was near 100 %: req/s then measures the client.")
    for t, label in TESTS:
        pc = cell.get(("pforte", t))
        peers = [(cell[(p, t)]["us_per_req"], p) for p in proxies if p != "pforte" and (p, t) in cell
                 and cell[(p, t)]["us_per_req"] is not None]
        if not pc or pc["us_per_req"] is None or not peers:
            print("| %s | %s | - | - | - | - |" % (label, f(pc and pc["us_per_req"], 1)))
            continue
        best_us, best = min(peers)
        print("| %s | %s | %s | %s | %.2f | %s / %s |" % (
            label, f(pc["us_per_req"], 1), best, f(best_us, 1), best_us / pc["us_per_req"],
            f(pc["cli"], 1), f(cell[(best, t)]["cli"], 1)))
    print()
    print("### CPU during the measured runs (medians; /proc/stat busy incl. softirq)")
    print()
    print("Core 0 runs the proxy (and, unpinned, possibly the origin); core 1 runs the load generator. "
          "`proxy %` and `origin %` are the processes' own CPU time over the run's wall time (100 = one core). "
          "`proxy us/req` is the proxy's CPU time per proxied request (its CPU time over the run / the requests the origin "
          "received in that time, h2load warm-up included): less sensitive to other load on the machine than req/s. "
          "`origin conns/req` is new origin connections per proxied request (0 = perfect keep-alive reuse).")
    print()
    print("| proxy | test | core 0 busy % | core 1 busy % | proxy % | origin % | proxy us/req | origin conns/req |")
    print("|---|---|---|---|---|---|---|---|")
    for p in proxies:
        for t, _ in TESTS:
            c = cell.get((p, t))
            if c:
                print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    p, t, f(c["srv"], 1), f(c["cli"], 1), f(c["proc"], 1), f(c["ocpu"], 1),
                    f(c["us_per_req"], 1), f(c["conn_per_req"], 3)))
    print()
    cpu = read_cpu(run)
    if cpu:
        rounds = max(len(v) for v in cpu.values())
        print("### CPU per proxied request in interleaved rounds (median of %d)" % rounds)
        print()
        print("Each proxy in turn gets the same number of requests (h2load -n; `--h1` for HTTP/1.1); "
              "its CPU time (user + system) divided by them. `pforte ÷ peer` = the peer's us/req "
              "divided by pforte's: above 1, pforte needs less CPU.")
        print()
        print("| test | proxy | us CPU per request (min-max) | pforte ÷ peer |")
        print("|---|---|---|---|")
        for t, _ in TESTS:
            base = med(cpu.get(("pforte", t), [])) if ("pforte", t) in cpu else None
            for p in proxies:
                v = cpu.get((p, t))
                if not v:
                    continue
                m = med(v)
                rel = "%.2f" % (m / base) if base and p != "pforte" else "-"
                print("| %s | %s | %.1f (%.1f-%.1f) | %s |" % (
                    t, "**%s**" % p if p == "pforte" else p, m, min(v), max(v), rel))
        print()
    if mem:
        print("### Memory (KiB; the serving process, i.e. the one holding the most sockets)")
        print()
        print("Idle probe: a fresh process, then N idle h2-over-TLS connections, each after one request "
              "(`idle_conns.py`); RSS ~0.3 s after the last response, and again IDLE_SETTLE s after it "
              "(settled). After load: the process that served the load tests above.")
        print()
        print("| proxy | RSS fresh | RSS with idle conns | idle conns ok | KiB / idle conn | KiB / idle conn, settled "
              "| RSS after load | VmHWM after load |")
        print("|---|---|---|---|---|---|---|---|")
        for p in proxies:
            rows = [r for r in mem if r["proxy"] == p]
            if not rows:
                continue
            r = rows[-1]
            fresh, idle, ok = num(r["rss_fresh"]), num(r["rss_idle"]), num(r["idle_ok"])
            per = (idle - fresh) / ok if (fresh is not None and idle is not None and ok) else None
            settled = num(r.get("rss_settled", "-"))
            per_settled = ((settled - fresh) / ok
                           if (fresh is not None and settled is not None and ok) else None)
            print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                p, f(fresh, thousands=True), f(idle, thousands=True), f(ok), f(per, 1),
                f(per_settled, 1),
                f(num(r["rss_after"]), thousands=True), f(num(r["hwm_after"]), thousands=True)))
        print()


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "parse":
        cmd_parse(a[1], a[2])
    elif len(a) == 2 and a[0] == "p99":
        cmd_p99(a[1])
    elif len(a) == 2 and a[0] == "origin-stats":
        cmd_origin_stats(a[1])
    elif len(a) == 2 and a[0] == "summarize":
        cmd_summarize(a[1])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
