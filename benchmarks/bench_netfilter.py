"""netfilter engine figures: parse speed and peak memory of kube-proxy-shaped dumps, time per walk (fast path vs
linear).

Sizes: services x 10 endpoints; each service gives 2 + 3 x endpoints rules (KUBE-SERVICES jump, masquerade rule,
one statistic jump and a 2-rule SEP chain per endpoint): 320, 3200 and 10000 services give about 10k, 100k and
320k rules. `KPLAB_BENCH_SERVICES` overrides the largest size.

Parse speed is the best wall-clock time of a few runs (the machine is shared with other work). Peak memory is tracemalloc's peak during a separate parse (tracemalloc slows allocation down, so it is
never on while timing); "kept" is what the parsed Ruleset still holds afterwards.
"""
from __future__ import annotations

import gc
import os
import random
import resource
import time
import tracemalloc

from kplab.netfilter import Packet, SeededChooser, Stack, parse_ruleset


def kube_proxy_dump(services: int, endpoints: int) -> str:
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":KUBE-SERVICES - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
    rules = ["-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
             "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"]
    for s in range(services):
        svc = f"KUBE-SVC-{s:016d}"
        ip = f"172.{16 + s // 65536}.{(s // 256) % 256}.{s % 256}"
        lines.append(f":{svc} - [0:0]")
        rules.append(f"-A KUBE-SERVICES -m comment --comment \"ns/svc{s}:http cluster IP\" -m tcp -p tcp "
                     f"-d {ip} --dport 80 -j {svc}")
        rules.append(f"-A {svc} -m comment --comment \"ns/svc{s}:http cluster IP\" -m tcp -p tcp -d {ip} "
                     f"--dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ")
        for e in range(endpoints):
            sep = f"KUBE-SEP-{s:010d}{e:06d}"
            pod = f"10.{(s * endpoints + e) // 65536 % 256}.{(s * endpoints + e) // 256 % 256}.{(s * endpoints + e) % 256}"
            lines.append(f":{sep} - [0:0]")
            left = endpoints - e
            prob = "" if left == 1 else f"-m statistic --mode random --probability {1 / left:.10f} "
            rules.append(f"-A {svc} -m comment --comment \"ns/svc{s}:http -> {pod}:8080\" {prob}-j {sep}")
            rules.append(f"-A {sep} -m comment --comment ns/svc{s}:http -s {pod} -j KUBE-MARK-MASQ")
            rules.append(f"-A {sep} -m comment --comment ns/svc{s}:http -m tcp -p tcp -j DNAT "
                         f"--to-destination {pod}:8080")
    rules.append("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the "
                 "last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    lines.insert(4, ":KUBE-NODEPORTS - [0:0]")
    return "\n".join(lines + rules + ["COMMIT"]) + "\n"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def walks_per_second(stack: Stack, services: int, n: int) -> float:
    rng = random.Random(1)
    start = time.perf_counter()
    for i in range(n):
        s = rng.randrange(services)
        ip = f"172.{16 + s // 65536}.{(s // 256) % 256}.{s % 256}"
        stack.copy().receive(Packet("10.200.0.1", ip, "tcp", 1024 + i % 60000, 80), "eth0", SeededChooser(i))
    return n / (time.perf_counter() - start)


def parse_seconds(text: str, runs: int) -> float:
    """Best wall-clock seconds of `runs` parses."""
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        ruleset = parse_ruleset(text, "bench")
        best = min(best, time.perf_counter() - start)
        del ruleset
    return best


def parse_memory(text: str) -> tuple[float, float]:
    """(peak MB during the parse, MB the parsed Ruleset keeps), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    ruleset = parse_ruleset(text, "bench")
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del ruleset
    return peak / 1e6, kept / 1e6


def one(services: int, endpoints: int = 10, walks: bool = True) -> None:
    text = kube_proxy_dump(services, endpoints)
    rules = sum(1 for line in text.splitlines() if line.startswith("-A "))
    seconds = parse_seconds(text, runs=3 if rules <= 150_000 else 2)
    peak, kept = parse_memory(text)
    print(f"{rules:>7,} rules ({services} services x {endpoints} endpoints): parse {seconds:.2f} s "
          f"({rules / seconds:,.0f} rules/s), peak {peak:.0f} MB, kept {kept:.0f} MB "
          f"(text {len(text) / 1e6:.0f} MB)", flush=True)
    if not walks:
        return
    ruleset = parse_ruleset(text, "bench")
    stack = Stack(ruleset, ["192.168.0.10"], {"eth0": ["192.168.0.10/24"]})
    stack.receive(Packet("10.200.0.1", "172.16.0.0", "tcp", 1, 80), "eth0")  # build the index once
    fast = walks_per_second(stack, services, 2000)
    slow_stack = Stack(ruleset, ["192.168.0.10"], {"eth0": ["192.168.0.10/24"]}, fast_path=False)
    slow = walks_per_second(slow_stack, services, 50)
    print(f"          walk (new connection, forward path): fast path {1000 / fast:.3f} ms ({fast:,.0f}/s), "
          f"linear {1000 / slow:.2f} ms ({slow:,.0f}/s), speed-up x{fast / slow:.0f}", flush=True)


def main() -> None:
    one(320, walks=False)  # ~10k rules
    one(3200)  # ~100k rules
    largest = int(os.environ.get("KPLAB_BENCH_SERVICES", "10000"))  # ~320k rules
    if largest > 3200:
        one(largest)
    print(f"  peak RSS of this process: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
