#!/usr/bin/env python3
"""Summary tables for bench/cache.sh (standard library only).

  cachestats.py RUN_DIR
      markdown: medians per proxy and test from runs.tsv (req/s, p99, origin requests during the
      runs), microseconds of proxy CPU per hit in interleaved rounds (cpu.tsv), ratios against
      the issue-3 targets, memory (mem.tsv, fill.tsv) and the hit ratios of pforte-cachesim
      (cachesim.tsv)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptstats import f, med, num, read_cpu, read_tsv, table_head  # noqa: E402

TESTS = [("h2tls-4k", "4 KiB, h2 over TLS (h2load)"), ("h2tls-64k", "64 KiB, h2 over TLS (h2load)"),
         ("h1-4k", "4 KiB, HTTP/1.1 (wrk)"), ("h1-64k", "64 KiB, HTTP/1.1 (wrk)")]
CACHING = ["nginx", "haproxy", "varnish"]
# (test, peer, minimum ratio pforte / peer) from issue 3's "Measured"
TARGETS = [("h2tls-4k", "haproxy", 1.1), ("h2tls-4k", "h2o", 0.9), ("h1-4k", "haproxy", 1.0)]


def cells(runs):
    out = {}
    for r in runs:
        out.setdefault((r["proxy"], r["test"]), []).append(r)
    res = {}
    for key, rows in out.items():
        rps = [num(r["rps"]) for r in rows if num(r["rps"]) is not None]
        res[key] = dict(
            n=len(rows), rps=med(rps), lo=min(rps, default=None), hi=max(rps, default=None),
            p99=med([num(r["p99_ms"]) for r in rows]), mean=med([num(r["mean_ms"]) for r in rows]),
            bad=sum(int(num(r["non2xx"]) or 0) + int(num(r["errors"]) or 0) for r in rows),
            origin=sum(int(num(r["origin_req"]) or 0) for r in rows),
            origin_unknown=any(num(r["origin_req"]) is None for r in rows),
            proc=med([num(r["proxy_cpu"]) for r in rows]),
            cli=med([num(r["cpu_cli_core"]) for r in rows]),
            per_cpu=med([num(r["rps"]) / (num(r["proxy_cpu"]) / 100.0) for r in rows
                         if num(r["rps"]) is not None and num(r["proxy_cpu"])]))
    return res


def main(run):
    runs = read_tsv(run + "/runs.tsv")
    cpu = {k: dict(us=med(v), lo=min(v), hi=max(v), n=len(v)) for k, v in read_cpu(run).items()}
    proxies = []
    for r in runs:
        if r["proxy"] not in proxies:
            proxies.append(r["proxy"])
    if "pforte" in proxies:
        proxies.remove("pforte")
        proxies.insert(0, "pforte")
    c = cells(runs)
    nmax = max((v["n"] for v in c.values()), default=0)

    print("### Cache hits: req/s and latency (median of %d runs per cell)" % nmax)
    print()
    print("`origin` = requests that reached the origin during all the measured runs of the cell "
          "(0 = every answer was a cache hit; h2o serves files). p99: wrk --latency, or h2load "
          "--log-file. `per CPU-s` = req/s divided by the proxy's own CPU share (median over the "
          "runs): hits per second of proxy CPU. A proxy well under 100 % CPU while the client core "
          "is near 100 % was held back by the load generator; compare it per CPU-second.")
    print()
    for t, label in TESTS:
        if not any((p, t) in c for p in proxies):
            continue
        table_head(label, ["proxy", "req/s (min-max)", "p99 ms", "mean ms", "proxy CPU %",
                           "client core %", "per CPU-s", "origin", "non-2xx + errors"], level=4)
        for p in proxies:
            v = c.get((p, t))
            if not v:
                continue
            flag = " **FLAG**" if v["bad"] else ""
            origin = "?" if v["origin_unknown"] else str(v["origin"])
            if v["origin"] and p != "h2o":
                origin += " **FLAG**"
            print("| %s | %s (%s-%s) | %s | %s | %s | %s | %s | %s | %d%s |" % (
                "**%s**" % p if p == "pforte" else p, f(v["rps"], thousands=True),
                f(v["lo"], thousands=True), f(v["hi"], thousands=True), f(v["p99"], 2),
                f(v["mean"], 2), f(v["proc"], 1), f(v["cli"], 1), f(v["per_cpu"], thousands=True),
                origin, v["bad"], flag))
        print()

    if cpu:
        rounds = max(v["n"] for v in cpu.values())
        print("#### CPU per hit, h2 over TLS (median of %d interleaved rounds)" % rounds)
        print()
        print("Each proxy in turn serves the same number of hits (h2load -n, 50 clients, 10 "
              "streams each); its CPU time (user + system, /proc/PID/stat) divided by the hits. "
              "`pforte ÷ peer` is the peer's CPU per hit divided by pforte's: above 1, pforte "
              "serves more hits per second of CPU.")
        print()
        print("| test | proxy | µs CPU per hit (min-max) | pforte ÷ peer |")
        print("|---|---|---|---|")
        for t, _ in TESTS:
            pc = cpu.get(("pforte", t))
            for p in proxies:
                v = cpu.get((p, t))
                if not v:
                    continue
                rel = "%.2f" % (v["us"] / pc["us"]) if pc and p != "pforte" else "-"
                print("| %s | %s | %.2f (%.2f-%.2f) | %s |" % (
                    t, "**%s**" % p if p == "pforte" else p, v["us"], v["lo"], v["hi"], rel))
        print()

    table_head("Ratios pforte / peer (median req/s)",
               ["test", "best caching peer", "ratio", "vs HAProxy", "vs h2o (files)",
                "per CPU-s vs HAProxy", "per CPU-s vs h2o", "issue-3 target"])
    for t, label in TESTS:
        pc = c.get(("pforte", t))
        if not pc or pc["rps"] is None:
            continue
        peers = [(c[(p, t)]["rps"], p) for p in CACHING if (p, t) in c and c[(p, t)]["rps"]]
        best = max(peers) if peers else None

        def ratio(peer):
            v = c.get((peer, t))
            return "%.2f" % (pc["rps"] / v["rps"]) if v and v["rps"] else "-"

        def cpu_ratio(peer):
            v = c.get((peer, t))
            ok = v and v["per_cpu"] and pc["per_cpu"]
            return "%.2f" % (pc["per_cpu"] / v["per_cpu"]) if ok else "-"
        targets = []
        for tt, peer, m in TARGETS:
            v = c.get((peer, t))
            if tt == t:
                # Met only if met by req/s and per second of proxy CPU: with the client core
                # saturated, req/s measures the load generator, and a server that idles part of
                # the time looks as fast as one that does not.
                if not v or not v["rps"]:
                    verdict = "not measured"
                else:
                    by_rps = pc["rps"] / v["rps"]
                    by_cpu = (pc["per_cpu"] / v["per_cpu"]
                              if v["per_cpu"] and pc["per_cpu"] else None)
                    # The interleaved CPU-per-hit rounds, where measured, are the better figure.
                    if (peer, t) in cpu and ("pforte", t) in cpu:
                        by_cpu = cpu[(peer, t)]["us"] / cpu[("pforte", t)]["us"]
                    met = by_rps >= m and (by_cpu is None or by_cpu >= m)
                    verdict = "met" if met else "NOT met"
                    if not met and by_rps >= m:
                        verdict += " (per CPU: %.2f)" % by_cpu
                targets.append(">= %.1fx %s: %s" % (m, peer, verdict))
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            t, "%s (%s)" % (best[1], f(best[0], thousands=True)) if best else "-",
            "%.2f" % (pc["rps"] / best[0]) if best else "-", ratio("haproxy"), ratio("h2o"),
            cpu_ratio("haproxy"), cpu_ratio("h2o"), "; ".join(targets) or "-"))
    print()

    mem = read_tsv(run + "/mem.tsv")
    if mem:
        table_head("Memory after the load (KiB, serving process)", ["proxy", "RSS", "VmHWM"])
        for r in mem:
            print("| %s | %s | %s |" % (r["proxy"], f(num(r["rss_after"]), thousands=True),
                                         f(num(r["hwm_after"]), thousands=True)))
        print()
    fill = read_tsv(run + "/fill.tsv")
    if fill:
        table_head("pforte with the cache over-full (fresh process per row)",
                   ["object size", "distinct objects fetched", "[cache] memory", "origin requests", "RSS KiB",
                    "VmHWM KiB", "limit (memory + 32 MiB)", "verdict", "cache metrics after",
                    "last object again"])
        for r in fill:
            print("| %s | %s | %s MiB | %s | %s | %s | %s | %s | %s | %s |" % (
                r["size"], r["objects"], r["memory_mib"], r["origin_req"], f(num(r["rss_kib"]), thousands=True),
                f(num(r["hwm_kib"]), thousands=True), f(num(r["limit_kib"]), thousands=True), r["verdict"],
                r["metrics"].strip(), r["last_object"]))
        print()
    try:
        sim = [ln for ln in open(run + "/cachesim.tsv").read().splitlines() if ln.strip()]
    except OSError:
        sim = []
    if sim:
        print("### Hit ratio: pforte's store (S3-FIFO) vs LRU of the same bytes (pforte-cachesim)")
        print()
        for ln in sim:
            if ln.startswith("#"):
                print(ln.lstrip("# ") + ".")
                print()
        body = [ln.split("\t") for ln in sim if not ln.startswith("#")]
        print("| " + " | ".join(body[0]) + " |")
        print("|" + "---|" * len(body[0]))
        for row in body[1:]:
            print("| " + " | ".join(row) + " |")
        print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    main(sys.argv[1])
