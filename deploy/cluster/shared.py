#!/usr/bin/env python3
"""Through the balancer: the manager rate limit is one count across replicas, and a write made
through one replica is read back by every replica within the cache's 1 s. Standard library only."""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), err.headers


def rate_limit(base, problems):
    manager = f"m-{uuid.uuid4().hex[:10]}"
    statuses = []
    remaining = []
    for _ in range(101):
        status, _, headers = call(base, "GET", f"/api/inventory/products?manager_id={manager}")
        statuses.append(status)
        remaining.append(int(headers.get("RateLimit-Remaining", -1)))
    allowed = statuses.count(200)
    if statuses[:100] != [200] * 100 or statuses[100] != 429:
        problems.append(f"rate limit: {allowed} of 101 allowed, last {statuses[100]} (want 100 then 429)")
    if remaining[:100] != list(range(99, -1, -1)):
        problems.append(f"rate limit: RateLimit-Remaining not one count across replicas: {remaining[:6]}...")
    print(f"shared: rate limit: {allowed} of 101 requests allowed across the replicas, 101st answered {statuses[100]}")


def coherence(base, replicas, problems):
    status, product, _ = call(base, "POST", "/products", {"name": f"coherence-{uuid.uuid4().hex[:8]}", "price": 5, "stock": 10})
    if status != 201:
        problems.append(f"coherence: creating a product answered {status}")
        return
    path = f"/products/{product['id']}"
    for _ in range(2 * replicas):  # every replica caches the product
        call(base, "GET", path)
    written = time.monotonic()
    status, _, _ = call(base, "PATCH", path, {"stock": 7})
    if status != 200:
        problems.append(f"coherence: PATCH answered {status}")
        return
    worst = 0.0
    for port in replicas_ports(replicas):
        while True:
            _, seen, _ = call(f"http://127.0.0.1:{port}", "GET", path)
            if seen and seen["stock"] == 7:
                worst = max(worst, time.monotonic() - written)
                break
            if time.monotonic() - written > 5:
                problems.append(f"coherence: replica on {port} still shows stock {seen and seen['stock']} after 5 s")
                break
            time.sleep(0.05)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - written)))
    stale = [seen["stock"] for seen in (call(base, "GET", path)[1] for _ in range(2 * replicas)) if seen["stock"] != 7]
    if worst > 1.0 or stale:
        problems.append(f"coherence: slowest replica {worst:.2f} s, {len(stale)} stale reads through the balancer after 1 s")
    print(f"shared: cache coherence: every replica saw the write after at most {worst:.2f} s; {len(stale)} stale reads through the balancer after 1 s")


FIRST_REPLICA_PORT = [18081]


def replicas_ports(replicas):
    return [FIRST_REPLICA_PORT[0] + i for i in range(replicas)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:18080")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--first-replica-port", type=int, default=18081)
    args = parser.parse_args()
    FIRST_REPLICA_PORT[0] = args.first_replica_port
    problems = []
    rate_limit(args.base, problems)
    coherence(args.base, args.replicas, problems)
    for problem in problems:
        print(f"shared: FAIL: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
