#!/usr/bin/env python3
"""Black-box smoke of a running ecommerce-api over HTTP, standard library only.

    smoke.py single URL               one server (any backend)
    smoke.py stack URL_A URL_B LIMIT  two replicas sharing one PostgreSQL, rate limit LIMIT

Exits non-zero with the first failed expectation.
"""

import json
import sys
import time
import urllib.error
import urllib.request
import uuid


class Failed(Exception):
    pass


def call(base, method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), error.headers
    payload = json.loads(raw) if raw else None
    return status, payload, got


def expect(condition, message):
    if not condition:
        raise Failed(message)


def expect_status(result, status, what):
    expect(result[0] == status, f"{what}: expected {status}, got {result[0]} {result[1]}")
    return result[1]


def eventually(fetch, expected, what, seconds=3.0):
    """Other replicas may serve a cached read for up to 1 s after a write."""
    deadline = time.monotonic() + seconds
    while True:
        last = fetch()
        if last == expected:
            return
        if time.monotonic() > deadline:
            raise Failed(f"{what}: {last} instead of {expected} after {seconds} s")
        time.sleep(0.25)


def health(base):
    status, body, headers = call(base, "GET", "/health")
    expect(status == 200, f"{base}/health answered {status}")
    expect(headers.get("X-Request-Id"), "no X-Request-Id header")


def single(base):
    health(base)
    product = expect_status(
        call(base, "POST", "/products", {"name": "Mug", "price": 12.99, "stock": 5}), 201, "create a product"
    )
    expect(product["price"] == 12.99 and product["stock"] == 5, f"product {product}")
    order = expect_status(
        call(base, "POST", "/orders", {"products": [{"product_id": product["id"], "quantity": 2}]}),
        201,
        "place an order",
    )
    expect(order["total_price"] == 25.98 and order["status"] == "pending", f"order {order}")
    again = expect_status(call(base, "GET", f"/orders/{order['id']}"), 200, "read the order")
    expect(again == order, f"order read back {again} != {order}")
    stock = expect_status(call(base, "GET", f"/products/{product['id']}"), 200, "read the product")["stock"]
    expect(stock == 3, f"stock after the order is {stock}")
    expect_status(call(base, "GET", "/products/999999"), 404, "an unknown product")
    print(f"single: {base} served health, a product, an order")


def stack(a, b, limit):
    for base in (a, b):
        health(base)
        expect_status(call(base, "GET", "/ready"), 200, f"{base}/ready")

    # Products and orders through both replicas.
    created = expect_status(
        call(a, "POST", "/products", {"name": "Lamp", "price": 30, "stock": 10}), 201, "create through A"
    )
    pid = created["id"]
    seen = expect_status(call(b, "GET", f"/products/{pid}"), 200, "read through B")
    expect(seen == created, f"B sees {seen}, A created {created}")
    order = expect_status(
        call(b, "POST", "/orders", {"products": [{"product_id": pid, "quantity": 3}]}), 201, "order through B"
    )
    on_a = expect_status(call(a, "GET", f"/orders/{order['id']}"), 200, "the order through A")
    expect(on_a == order, f"A sees {on_a}, B placed {order}")
    listed = expect_status(call(a, "GET", "/orders"), 200, "orders through A")
    expect(any(o["id"] == order["id"] for o in listed), "the order is missing from A's list")
    eventually(lambda: call(a, "GET", f"/products/{pid}")[1]["stock"], 7, "stock through A")
    second = expect_status(
        call(a, "POST", "/orders", {"products": [{"product_id": pid, "quantity": 7}]}), 201, "order through A"
    )
    expect_status(call(b, "GET", f"/orders/{second['id']}"), 200, "A's order through B")
    refused = call(b, "POST", "/orders", {"products": [{"product_id": pid, "quantity": 1}]})
    expect(refused[0] == 409 and refused[1]["error"]["code"] == "INSUFFICIENT_STOCK",
           f"an order past the stock: {refused[0]} {refused[1]}")

    # Seed 003: the manager flow, alternating replicas.
    manager = f"mgr_{uuid.uuid4().hex[:8]}"
    items = expect_status(
        call(a, "POST", "/api/inventory/products", {
            "manager_id": manager,
            "products": [
                {"name": "Premium Coffee Beans", "price": 15.99, "quantity": 100},
                {"name": "Ceramic Coffee Mug", "price": 12.99, "quantity": 50},
            ],
        }),
        201,
        "add products",
    )["products"]
    expect(len(items) == 2 and all(i["id"].startswith("prod_") for i in items), f"items {items}")
    beans, mug = items
    in_stock = expect_status(
        call(b, "GET", f"/api/inventory/products?status=in_stock&manager_id={manager}"), 200, "in-stock list"
    )["products"]
    expect(in_stock == items, f"in stock through B: {in_stock}, added {items}")
    processed = expect_status(
        call(b, "POST", "/api/orders/process", {
            "manager_id": manager,
            "customer": {"id": "cust_456", "email": "customer@example.com"},
            "products": [{"product_id": beans["id"], "quantity": 2}, {"product_id": mug["id"], "quantity": 1}],
        }),
        200,
        "process an order",
    )
    expect(processed["status"] == "processed" and processed["total_amount"] == 44.97
           and processed["order_id"].startswith("ord_"), f"processed {processed}")
    status, _, _ = call(a, "POST", "/api/inventory/discontinue", {"manager_id": manager, "product_id": beans["id"]})
    expect(status == 204, f"discontinue answered {status}")
    discontinued = expect_status(
        call(a, "GET", f"/api/inventory/products?status=discontinued&manager_id={manager}"), 200, "discontinued"
    )["products"]
    expect([i["id"] for i in discontinued] == [beans["id"]], f"discontinued {discontinued}")
    eventually(lambda: call(b, "GET", f"/api/inventory/products?manager_id={manager}")[1]["products"],
               [{**beans, "quantity": 98}, {**mug, "quantity": 49}], "quantities through B")
    other = call(b, "GET", "/api/inventory/products?manager_id=someone_else")
    expect(other[0] == 200 and other[1]["products"] == [], f"another manager sees {other[1]}")

    # One rate limit across both replicas.
    counted = f"rl_{uuid.uuid4().hex[:8]}"
    for n in range(limit):
        base = a if n % 2 == 0 else b
        status, _, headers = call(base, "GET", f"/api/inventory/products?manager_id={counted}")
        expect(status == 200, f"request {n + 1} of {limit} answered {status}")
        expect(headers.get("RateLimit-Limit") == str(limit), f"RateLimit-Limit {headers.get('RateLimit-Limit')}")
    for base in (a, b):
        status, body, headers = call(base, "GET", f"/api/inventory/products?manager_id={counted}")
        expect(status == 429 and body["error"]["code"] == "RATE_LIMITED", f"{base} past the limit: {status} {body}")
        expect(headers.get("Retry-After"), "no Retry-After")
    print(f"stack: {a} and {b} share products, orders, the manager flow and one rate limit of {limit}")


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "single":
            single(argv[2].rstrip("/"))
        elif len(argv) == 5 and argv[1] == "stack":
            stack(argv[2].rstrip("/"), argv[3].rstrip("/"), int(argv[4]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (Failed, OSError, ValueError, KeyError, TypeError) as error:
        print(f"smoke: FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
