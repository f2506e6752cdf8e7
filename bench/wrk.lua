-- Request mixes for `make bench`, driven by wrk: `wrk -s bench/wrk.lua ... -- MODE [PRODUCTS]`.
--
--   get PATH     every request a GET of PATH
--   product      GET /products/{id}, id uniform over 1..PRODUCTS
--   order        POST /orders, 3 distinct random products, 1 unit each
--   hot          POST /orders, 1 unit of product 1 (every order queues on the same row)
--   idempotent   as `order`, each with a fresh Idempotency-Key
--   mixed        10% `order`, 90% `product`
--
-- `thread_id` is a global that `setup` gives each thread. `done` prints one machine-readable line (`RESULT requests=... p50_us=...`) for bench/run.sh.

local mode, path, products = "get", "/", 1000
local counter, prefix = 0, ""
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "get"
  if mode == "get" then
    path = args[2] or "/"
  else
    products = tonumber(args[2] or "1000")
  end
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  prefix = string.format("bench-%d-%d-", os.time(), thread_id or 0)
end

local order_headers = { ["Content-Type"] = "application/json" }

local function order_body()
  local a = math.random(products)
  local b = math.random(products)
  while b == a do b = math.random(products) end
  local c = math.random(products)
  while c == a or c == b do c = math.random(products) end
  return string.format(
    '{"products":[{"product_id":%d,"quantity":1},{"product_id":%d,"quantity":1},{"product_id":%d,"quantity":1}]}',
    a, b, c)
end

local function product()
  return wrk.format("GET", "/products/" .. math.random(products))
end

function request()
  if mode == "get" then
    return wrk.format("GET", path)
  elseif mode == "product" then
    return product()
  elseif mode == "order" then
    return wrk.format("POST", "/orders", order_headers, order_body())
  elseif mode == "hot" then
    return wrk.format("POST", "/orders", order_headers, '{"products":[{"product_id":1,"quantity":1}]}')
  elseif mode == "idempotent" then
    counter = counter + 1
    local headers = {
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = prefix .. counter,
    }
    return wrk.format("POST", "/orders", headers, order_body())
  elseif mode == "mixed" then
    if math.random() < 0.1 then
      return wrk.format("POST", "/orders", order_headers, order_body())
    end
    return product()
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
