"""How fast the sandbox is ready and how much memory it holds, at a small and a large world in one run.

    python -m shipshape_sandbox.benchmarks.sandbox_scale [--orders 100000] [--baseline 10000]

Starts `shipshape sandbox serve` as a separate process for each size, times start to the first answer
of /_sandbox/health, reads the process's peak RSS (VmHWM) once ready and again after serving the
truth and a full page of every API's main list, and prints one line per size.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

import httpx

from shipshape_sandbox.runner import free_port


def _rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def measure(orders: int, seed: int) -> dict[str, float]:
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipshape_sandbox", "serve", "--orders", str(orders), "--seed", str(seed),
         "--port", str(port), "--rate-limits", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                health = httpx.get(f"{base}/_sandbox/health", timeout=5).json()
                break
            except httpx.HTTPError:
                if proc.poll() is not None:
                    raise RuntimeError("sandbox exited before it was ready") from None
                time.sleep(0.05)
        ready = time.monotonic() - started
        _, ready_peak = _rss_mb(proc.pid)
        creds = httpx.get(f"{base}/_sandbox/credentials").json()
        t = time.monotonic()
        httpx.get(f"{base}/_sandbox/truth", timeout=300).raise_for_status()
        truth_s = time.monotonic() - t
        stripe = {"Authorization": f"Bearer {creds['stripe']['secret_key']}"}
        httpx.get(f"{base}/stripe/v1/charges", params={"limit": 100}, headers=stripe, timeout=60).raise_for_status()
        httpx.get(f"{base}/tracking/v2/trackers", params={"page_size": 100},
                  auth=(creds["tracking"]["api_key"], ""), timeout=60).raise_for_status()
        _, served_peak = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"orders": orders, "ready_s": ready, "ready_peak_rss_mb": ready_peak, "truth_s": truth_s,
            "served_peak_rss_mb": served_peak, "records": sum(health["counts"].values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'orders':>8} {'records':>9} {'ready s':>8} {'peak RSS MB (ready)':>20} {'truth s':>8} "
          f"{'peak RSS MB (served)':>21}")
    rows = [measure(n, args.seed) for n in (args.baseline, args.orders)]
    for r in rows:
        print(f"{r['orders']:>8} {r['records']:>9} {r['ready_s']:>8.1f} {r['ready_peak_rss_mb']:>20.0f} "
              f"{r['truth_s']:>8.1f} {r['served_peak_rss_mb']:>21.0f}")
    small, large = rows
    print(f"scaling {large['orders'] / small['orders']:.0f}x orders: ready time x{large['ready_s'] / small['ready_s']:.1f},"
          f" peak RSS x{large['served_peak_rss_mb'] / small['served_peak_rss_mb']:.1f}")
    print(f"targets at {large['orders']}: ready < 30 s -> {'met' if large['ready_s'] < 30 else 'MISSED'};"
          f" RSS < 1.5 GB -> {'met' if large['served_peak_rss_mb'] < 1536 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
