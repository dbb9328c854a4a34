#!/usr/bin/env python3
"""Helpers for bench/isolation.sh (standard library only).

  isostats.py row RAW LOGFILE
      one TSV line: rps ok non2xx errors p50_ms p99_ms max_ms logged, from h2load's output RAW
      and its --log-file LOGFILE (h2load logs the measured requests only, not the warm-up;
      '-' = not found)
  isostats.py summarize RUN_DIR TIMEOUT_MS
      markdown tables (medians per proxy, load and case; errors summed over the runs) and the
      issue-5 targets, from RUN_DIR/runs.tsv
"""
import statistics
import sys

from ptstats import f, med, num, parse_h2load, read_tsv

CASES = ["healthy", "slow", "hung", "dead"]
LOADS = {"closed": "closed loop: h2load -c 10 -m 10, as many pages as answered",
         "open": "open loop: h2load --rps, a fixed offered rate"}


def percentile(sorted_vals, q):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def cmd_row(raw, logfile):
    r = parse_h2load(open(raw, errors="replace").read())
    durations = []
    try:
        for line in open(logfile):
            parts = line.split("\t")
            if len(parts) >= 3:
                durations.append(int(parts[2]) / 1000.0)
    except (OSError, ValueError):
        pass
    durations.sort()
    vals = [r["rps"], r["ok"], r["non2xx"], r["errors"], percentile(durations, 50),
            percentile(durations, 99), durations[-1] if durations else None, len(durations)]
    print("\t".join("-" if v is None else ("%.3f" % v if isinstance(v, float) else str(v))
                    for v in vals))


def total(vals):
    vals = [int(v) for v in vals if v not in (None, "-", "")]
    return sum(vals) if vals else None


def cmd_summarize(run_dir, timeout_ms):
    rows = read_tsv(run_dir + "/runs.tsv")
    limit = timeout_ms + 20
    verdicts = []
    for load in [ld for ld in LOADS if any(r["load"] == ld for r in rows)]:
        for proxy in dict.fromkeys(r["proxy"] for r in rows):
            sel = {c: [r for r in rows if r["load"] == load and r["proxy"] == proxy and r["case"] == c]
                   for c in CASES}
            if not any(sel.values()):
                continue
            print("### %s, %s\n" % (proxy, LOADS[load]))
            print("| blog | req/s | req/s runs | errors (non-2xx + failed, all runs) | p50 ms | p99 ms"
                  " | max ms | page check |")
            print("|---|---:|---|---:|---:|---:|---:|---|")
            healthy_rps = med(num(r["rps"]) for r in sel["healthy"])
            for c in CASES:
                rs = sel[c]
                if not rs:
                    continue
                rps = med(num(r["rps"]) for r in rs)
                errs = total(r["non2xx"] for r in rs)
                failed = total(r["errors"] for r in rs)
                err_sum = None if errs is None or failed is None else errs + failed
                p50 = med(num(r["p50_ms"]) for r in rs)
                p99 = med(num(r["p99_ms"]) for r in rs)
                mx = max((num(r["max_ms"]) for r in rs if num(r["max_ms"]) is not None), default=None)
                checks = sorted(set(r["check"] for r in rs))
                print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    c, f(rps, thousands=True), " / ".join(f(num(r["rps"]), thousands=True) for r in rs),
                    "-" if err_sum is None else "%d (%d + %d)" % (err_sum, errs, failed),
                    f(p50, 1), f(p99, 1), f(mx, 1), ", ".join(checks)))
                if c in ("hung", "dead"):
                    ok_err = err_sum == 0
                    ok_rps = rps is not None and healthy_rps and rps >= 0.9 * healthy_rps
                    ok_p99 = p99 is not None and p99 <= limit
                    verdicts.append((load, proxy, c, ok_err, err_sum, ok_rps, rps, healthy_rps,
                                     ok_p99, p99))
            print()
    if verdicts:
        print("### Targets (blog hung or dead): zero errors, req/s >= 0.9 x healthy, "
              "p99 <= %d ms\n" % limit)
        print("| load | proxy | blog | zero errors | req/s >= 0.9 x healthy | p99 <= %d ms |" % limit)
        print("|---|---|---|---|---|---|")
        for load, proxy, c, ok_err, err_sum, ok_rps, rps, hrps, ok_p99, p99 in verdicts:
            ratio = rps / hrps if rps is not None and hrps else None
            print("| %s | %s | %s | %s (%s) | %s (%s x) | %s (%s ms) |" % (
                load, proxy, c, "met" if ok_err else "MISSED", "-" if err_sum is None else err_sum,
                "met" if ok_rps else "MISSED", f(ratio, 2), "met" if ok_p99 else "MISSED", f(p99, 1)))
        print()


def main(argv):
    if len(argv) == 4 and argv[1] == "row":
        cmd_row(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "summarize":
        cmd_summarize(argv[2], int(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
