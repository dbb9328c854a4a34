#!/usr/bin/env python3
"""Where the proxies' CPU per request goes, for bench/pass_through.sh and bench/cache.sh with
CPU_SPLIT=1 (standard library only).

  cpusplit.py RUN_DIR
      reads RUN_DIR/cpu_split.tsv (bench/lib.sh cpu_rounds: per proxy, test and round the run's
      us_per_req and its split by the shared objects of perf's cpu-clock samples) and prints a
      markdown section: per test, the median over rounds of every component (us per request)
      and of the total, then for pforte against each peer the ratio peer / pforte now and the
      bound peer / (pforte - own - alloc), i.e. the best ratio pforte could reach if its own code
      and its allocator cost nothing while the kernel, TLS, HTTP/2 library, libc and libevent
      cost what they cost now. Prints nothing when the file is missing.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptstats import f, med, num, read_tsv, table_head  # noqa: E402

COMPONENTS = ["kernel", "tls", "h2lib", "libc", "alloc", "event", "own", "other"]
LABELS = {"h2tls": "h2 over TLS", "h1": "HTTP/1.1 (h2load --h1)",
          "h2tls-4k": "4 KiB hits, h2 over TLS", "h2tls-64k": "64 KiB hits, h2 over TLS"}
NOTE = ("Each run's us_per_req (proxy CPU from /proc, as in cpu.tsv, measured while perf sampled "
        "it) split in proportion to perf's cpu-clock samples per shared object: kernel = "
        "[kernel.kallsyms] + [vdso]; tls = libssl + libcrypto; h2lib = libnghttp2; libc = libc, "
        "libm, ld-linux; alloc = tcmalloc, jemalloc; event = libevent; own = the proxy's "
        "executable; other = the rest (libstdc++, ...). Medians per column: a row's parts need "
        "not add up to its total exactly.")


def ratio(a, b):
    return a / b if a is not None and b is not None and b > 0 else None


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    path = os.path.join(sys.argv[1], "cpu_split.tsv")
    if not os.path.exists(path):
        return 0
    rows = read_tsv(path)
    print()
    print("### CPU per request by component (perf record -e cpu-clock during the CPU rounds)")
    print()
    if not rows:
        print("No samples: perf record failed or was stopped (see logs/perf-record.out).")
        print()
        return 0
    print(NOTE)
    print()
    tests, proxies, cells = [], [], {}
    for r in rows:
        if r["test"] not in tests:
            tests.append(r["test"])
        if r["proxy"] not in proxies:
            proxies.append(r["proxy"])
        cells.setdefault((r["proxy"], r["test"]), []).append(r)
    proxies.sort(key=lambda p: p != "pforte")
    for t in tests:
        cell = {}
        for p in proxies:
            rs = cells.get((p, t))
            if rs:
                cell[p] = dict((c, med([num(r[c]) for r in rs]))
                               for c in ["us_per_req"] + COMPONENTS)
                cell[p]["n"] = len(rs)
        n = max(c["n"] for c in cell.values())
        table_head("%s: us of CPU per request, median of %d rounds" % (LABELS.get(t, t), n),
                   ["proxy", "total"] + COMPONENTS, level=4)
        for p in proxies:
            if p in cell:
                c = cell[p]
                name = "**%s**" % p if p == "pforte" else p
                print("| %s | %s | %s |" % (name, f(c["us_per_req"], 2),
                                            " | ".join(f(c[k], 2) for k in COMPONENTS)))
        print()
        pf = cell.get("pforte")
        for p in proxies:
            if p == "pforte" or p not in cell or not pf:
                continue
            peer = cell[p]["us_per_req"]
            rest = None
            if pf["us_per_req"] is not None and pf["own"] is not None and pf["alloc"] is not None:
                rest = pf["us_per_req"] - pf["own"] - pf["alloc"]
            print("- pforte vs %s: now %s / pforte = %s; bound if pforte's own code and allocator "
                  "cost nothing: %s / (pforte - own - alloc) = %s / %s = **%s**"
                  % (p, p, f(ratio(peer, pf["us_per_req"]), 2), p, f(peer, 2), f(rest, 2),
                     f(ratio(peer, rest), 2)))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
