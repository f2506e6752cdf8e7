#!/usr/bin/env python3
"""The request deadline against a database that does not answer, through the balancer, on a
cluster whose replicas run with server.request_timeout = --timeout seconds:

1. a product row locked by another session: the order answers 503 within the deadline;
2. the synchronous standby gone, so commits wait for ever: 503 within the deadline; once the
   primary stops naming that standby, a retry with the same Idempotency-Key returns the order,
   placed exactly once;
3. the primary frozen (SIGSTOP: a host that stops answering without closing its sockets):
   concurrent orders, those already holding a connection included, answer 503 within the
   deadline; after SIGCONT orders succeed again.

Standard library only; loopback only.
"""

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

PG_PORT = 55432
PSQL = shutil.which("psql") or "/usr/bin/psql"


def call(base, method, path, body=None, key=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload, headers = response.status, json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as err:
        status, payload, headers = err.code, json.loads(err.read() or b"null"), err.headers
    return status, payload, headers, time.monotonic() - started


def psql(sql, background=False):
    command = ["runuser", "-u", "postgres", "--", PSQL, "-X", "-q", "-h", "127.0.0.1", "-p", str(PG_PORT),
               "-U", "postgres", "-d", "ecommerce", "-v", "ON_ERROR_STOP=1", "-c", sql]
    if background:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def expect_503_in_time(name, outcome, limit, problems):
    status, payload, headers, seconds = outcome
    code = payload and payload.get("error", {}).get("code")
    ok = status == 503 and code == "SERVICE_UNAVAILABLE" and headers.get("Retry-After") and seconds <= limit
    print(f"deadline: {name}: {status} {code} Retry-After={headers.get('Retry-After')} after {seconds:.2f} s")
    if not ok:
        problems.append(f"{name}: wanted 503 SERVICE_UNAVAILABLE with Retry-After within {limit:.1f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:18080")
    parser.add_argument("--cluster", required=True, help="path of cluster.sh")
    parser.add_argument("--pg-port", type=int, default=55432, help="the primary's port")
    parser.add_argument("--timeout", type=float, default=2.0, help="the replicas' server.request_timeout")
    args = parser.parse_args()
    global PG_PORT
    PG_PORT = args.pg_port
    base, problems = args.base, []
    # The deadline plus what a loaded 2-core machine adds to answer and pass it on.
    limit = args.timeout + 1.5

    status, product, _, _ = call(base, "POST", "/products", {"name": f"deadline-{uuid.uuid4().hex[:8]}", "price": 3, "stock": 100})
    assert status == 201, status
    order = {"products": [{"product_id": product["id"], "quantity": 1}]}

    # 1. A lock held elsewhere for longer than the deadline.
    holder = psql(f"BEGIN; SELECT id FROM products WHERE id = {product['id']} FOR UPDATE; SELECT pg_sleep(8); COMMIT;", background=True)
    time.sleep(0.5)
    expect_503_in_time("row locked elsewhere", call(base, "POST", "/orders", order, key=str(uuid.uuid4())), limit, problems)
    holder.wait()

    # 2. Commits waiting for a synchronous standby that is gone.
    subprocess.run([args.cluster, "stop-standby"], check=True)
    key = str(uuid.uuid4())
    expect_503_in_time("commit waiting on a missing synchronous standby", call(base, "POST", "/orders", order, key=key), limit, problems)
    # What a failover manager does once the standby is declared lost: stop waiting for it. The
    # commit that was cut short completes, and a retry with the same key returns that order.
    psql("ALTER SYSTEM SET synchronous_standby_names = ''")
    psql("SELECT pg_reload_conf()")
    answers = []
    for _ in range(20):
        outcome = call(base, "POST", "/orders", order, key=key)
        if outcome[0] == 201:
            answers.append(outcome[1]["id"])
            if len(answers) == 2:
                break
        else:
            time.sleep(0.5)
    stored = [o for o in call(base, "GET", "/orders?per_page=500")[1] if any(l["product_id"] == product["id"] for l in o["products"])]
    print(f"deadline: retries with the same key returned orders {answers}; {len(stored)} order(s) stored for the product")
    if len(answers) != 2 or answers[0] != answers[1] or len(stored) != 1 or stored[0]["id"] != answers[0]:
        problems.append("the order cut short by the deadline was not returned exactly once by retries with its key")

    # 3. The primary frozen: every request, those that already hold a connection included.
    # Warm every replica's pool first, so requests hold live connections when the freeze comes.
    for _ in range(12):
        call(base, "POST", "/orders", order, key=str(uuid.uuid4()))
    subprocess.run([args.cluster, "freeze"], check=True)
    outcomes = [None] * 9
    def one(i):
        outcomes[i] = call(base, "POST", "/orders", order, key=str(uuid.uuid4()))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(outcomes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    subprocess.run([args.cluster, "thaw"], check=True)
    for i, outcome in enumerate(outcomes):
        expect_503_in_time(f"frozen primary, order {i + 1}", outcome, limit, problems)
    recovered = None
    started = time.monotonic()
    while time.monotonic() - started < 20:
        if call(base, "POST", "/orders", order, key=str(uuid.uuid4()))[0] == 201:
            recovered = time.monotonic() - started
            break
        time.sleep(0.2)
    print(f"deadline: orders succeed again {recovered if recovered is None else round(recovered, 2)} s after the thaw")
    if recovered is None:
        problems.append("orders did not succeed again within 20 s of the thaw")

    for problem in problems:
        print(f"deadline: FAIL: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
