#!/usr/bin/env python3
"""Order load through the balancer, then a reconciliation over HTTP. Standard library only.

Creates its own products, places orders for a bounded time (each with its own Idempotency-Key),
optionally retrying a 503 or a dropped connection with the same key, then checks:

* exactly one order per key: every key ends acknowledged (keys left without an answer are
  replayed), the acknowledged order ids are distinct, and the store holds exactly those orders
  for this run's products;
* every acknowledged order is present with its lines;
* for every product, initial stock = stock now + units in its non-cancelled orders, and every
  replica behind the balancer reports the same stock.

Prints one line of figures; exits 1 when a check or a limit (--max-500, --max-503-seconds,
--max-failed) is broken. Loopback only: the base URL must name 127.0.0.1 or localhost.
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
import uuid

TIMEOUT = 15.0


class Client:
    """One keep-alive connection, reopened after any failure."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        if url.hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit("load.py: loopback targets only")
        self.host, self.port = url.hostname, url.port or 80
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """(status, json body or None, headers); raises OSError/HTTPException on a dropped connection."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json"} if data is not None else {}
        all_headers.update(headers or {})
        try:
            self.conn.request(method, path, body=data, headers=all_headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return response.status, parsed, response


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # key -> order id
        self.bodies = {}  # key -> request body
        self.unanswered = set()  # keys whose outcome is unknown (gave up)
        self.rejected = 0  # 409: out of stock
        self.retries = 0
        self.drops = 0
        self.status = {}
        self.first_503 = None
        self.last_503 = None
        self.failed = 0  # requests that did not end in a definite answer (no-retry mode)
        self.errors = []

    def saw(self, status):
        with self.lock:
            self.status[status] = self.status.get(status, 0) + 1
            if status == 503:
                now = time.monotonic()
                self.first_503 = self.first_503 or now
                self.last_503 = now


def place(client, stats, key, body, retry, deadline):
    """Places one order; returns once it is answered (or given up on)."""
    backoff = 0.05
    while True:
        try:
            status, payload, response = client.request("POST", "/orders", body, {"Idempotency-Key": key})
        except (OSError, http.client.HTTPException) as err:
            with stats.lock:
                stats.drops += 1
                if len(stats.errors) < 5:
                    stats.errors.append(f"dropped: {err!r}")
            status, payload, response = None, None, None
        if status is not None:
            stats.saw(status)
        if status == 201:
            with stats.lock:
                stats.acked[key] = payload["id"]
            return
        if status == 409:
            with stats.lock:
                stats.rejected += 1
            return
        if status == 503 and (response is None or response.getheader("Retry-After") is None):
            with stats.lock:
                stats.errors.append("503 without Retry-After")
        if status is not None and status not in (503,):
            with stats.lock:
                if len(stats.errors) < 5:
                    stats.errors.append(f"{status}: {payload}")
                stats.failed += 1
                stats.unanswered.add(key)
            return
        if not retry or time.monotonic() > deadline:
            with stats.lock:
                stats.failed += 1
                stats.unanswered.add(key)
            return
        with stats.lock:
            stats.retries += 1
        time.sleep(backoff)
        backoff = min(backoff * 2, 0.5)


def worker(base, stats, products, stop_at, retry, max_orders, counter):
    client = Client(base)
    rng = random.Random()
    while time.monotonic() < stop_at:
        with counter["lock"]:
            if counter["n"] >= max_orders:
                return
            counter["n"] += 1
        chosen = rng.sample(products, rng.randint(1, min(3, len(products))))
        body = {"products": [{"product_id": p, "quantity": rng.randint(1, 3)} for p in chosen]}
        key = str(uuid.uuid4())
        with stats.lock:
            stats.bodies[key] = body
        # A retried order gets at most 30 s more, whatever the load's own end.
        place(client, stats, key, body, retry, time.monotonic() + 30)


def get_ok(client, path, attempts=60):
    for _ in range(attempts):
        try:
            status, payload, _ = client.request("GET", path)
            if status == 200:
                return payload
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    raise SystemExit(f"load.py: GET {path} never answered 200")


def reconcile(base, stats, initial, replicas):
    client = Client(base)
    problems = []
    # Keys left without an answer: replaying one returns the order if it was placed, or places
    # it now; either way the key ends with exactly one order.
    for key in sorted(stats.unanswered):
        for _ in range(60):
            try:
                status, payload, _ = client.request("POST", "/orders", stats.bodies[key], {"Idempotency-Key": key})
            except (OSError, http.client.HTTPException):
                time.sleep(0.5)
                continue
            if status == 201:
                stats.acked[key] = payload["id"]
                break
            if status == 409:
                break
            time.sleep(0.5)
    ids = list(stats.acked.values())
    if len(set(ids)) != len(ids):
        problems.append(f"{len(ids) - len(set(ids))} keys share an order id")
    mine = set(initial)
    stored = {}
    page = 1
    while True:
        orders = get_ok(client, f"/orders?per_page=500&page={page}")
        if not orders:
            break
        for order in orders:
            if any(line["product_id"] in mine for line in order["products"]):
                stored[order["id"]] = order
        page += 1
    acked_ids = set(ids)
    missing = acked_ids - stored.keys()
    extra = stored.keys() - acked_ids
    if missing:
        problems.append(f"{len(missing)} acknowledged orders missing, e.g. {sorted(missing)[:5]}")
    if extra:
        problems.append(f"{len(extra)} stored orders no key acknowledged (placed twice?), e.g. {sorted(extra)[:5]}")
    by_id = {order_id: key for key, order_id in stats.acked.items()}
    for order_id in acked_ids & stored.keys():
        want = {}
        for line in stats.bodies[by_id[order_id]]["products"]:
            want[line["product_id"]] = want.get(line["product_id"], 0) + line["quantity"]
        got = {line["product_id"]: line["quantity"] for line in stored[order_id]["products"]}
        if want != got:
            problems.append(f"order {order_id} has lines {got}, asked for {want}")
            break
    units = {p: 0 for p in initial}
    for order in stored.values():
        if order["status"] != "cancelled":
            for line in order["products"]:
                units[line["product_id"]] = units.get(line["product_id"], 0) + line["quantity"]
    for product_id, stock0 in initial.items():
        seen = set()
        for _ in range(replicas):
            seen.add(get_ok(client, f"/products/{product_id}")["stock"])
        if len(seen) != 1:
            problems.append(f"product {product_id}: replicas disagree on stock {sorted(seen)}")
            continue
        now = seen.pop()
        if stock0 != now + units[product_id]:
            problems.append(f"product {product_id}: initial {stock0} != now {now} + ordered {units[product_id]}")
    return problems, len(stored)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:18080")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--max-orders", type=int, default=50000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--stock", type=int, default=1000000)
    parser.add_argument("--no-retry", action="store_true", help="each order is sent once")
    parser.add_argument("--replicas", type=int, default=3, help="reads per product when checking coherence")
    parser.add_argument("--max-500", type=int, default=0)
    parser.add_argument("--max-503-seconds", type=float, default=None)
    parser.add_argument("--max-failed", type=int, default=None)
    parser.add_argument("--name", default="load")
    args = parser.parse_args()

    setup = Client(args.base)
    initial = {}
    tag = uuid.uuid4().hex[:8]
    for i in range(args.products):
        status, payload, _ = setup.request(
            "POST", "/products", {"name": f"{args.name}-{tag}-{i}", "price": 9.99, "stock": args.stock}
        )
        if status != 201:
            raise SystemExit(f"load.py: creating a product answered {status} {payload}")
        initial[payload["id"]] = args.stock

    stats = Stats()
    started = time.monotonic()
    stop_at = started + args.seconds
    counter = {"n": 0, "lock": threading.Lock()}
    threads = [
        threading.Thread(
            target=worker,
            args=(args.base, stats, list(initial), stop_at, not args.no_retry, args.max_orders, counter),
            daemon=True,
        )
        for _ in range(args.workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.seconds + 60)
    elapsed = time.monotonic() - started

    problems, stored = reconcile(args.base, stats, initial, args.replicas)
    seconds_503 = (stats.last_503 - stats.first_503) if stats.first_503 else 0.0
    count_500 = sum(n for s, n in stats.status.items() if s >= 500 and s != 503)
    figures = {
        "orders_sent": counter["n"],
        "acknowledged": len(stats.acked),
        "stored": stored,
        "rejected_409": stats.rejected,
        "retries": stats.retries,
        "dropped_connections": stats.drops,
        "failed": stats.failed,
        "seconds_of_503": round(seconds_503, 2),
        "count_503": stats.status.get(503, 0),
        "count_5xx_not_503": count_500,
        "orders_per_second": round(counter["n"] / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(stats.status.items())},
    }
    print(f"{args.name}: " + json.dumps(figures), flush=True)
    if count_500 > args.max_500:
        problems.append(f"{count_500} answers were 5xx other than 503 (limit {args.max_500})")
    if args.max_503_seconds is not None and seconds_503 > args.max_503_seconds:
        problems.append(f"503s spread over {seconds_503:.1f} s (limit {args.max_503_seconds})")
    if args.max_failed is not None and stats.failed > args.max_failed:
        problems.append(f"{stats.failed} requests failed at the client (limit {args.max_failed})")
    for err in stats.errors[:5]:
        print(f"{args.name}: seen: {err}", file=sys.stderr)
    for problem in problems:
        print(f"{args.name}: FAIL: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
