-- Shared by the workload scripts; bench/measurement.py passes the
-- arguments:
--   wrk -s bench/wrk/WORKLOAD.lua URL -- TOKEN USERS PRODUCTS HOT_USER ETAGS
--     FRESH_USERS THREADS CHECKOUT_USERS MERGE_USERS
-- (USERS: how many users user00001.. exist; PRODUCTS: comma-separated ids;
-- ETAGS: the file of polled carts' ETags, for get-304; FRESH_USERS: how many
-- users fresh000001.. without a cart exist, and THREADS wrk's --threads, for
-- first-add; CHECKOUT_USERS: how many users checkout000001.. with lines exist,
-- for checkout; MERGE_USERS: how many guest and shopper pairs exist, for
-- merge).
-- done() prints one line "BENCH {json}" for bench/measurement.py to read.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  token, users, hot_user = args[1], tonumber(args[2]), args[4]
  products = {}
  for product in string.gmatch(args[3], "[^,]+") do
    products[#products + 1] = product
  end
  headers = {
    ["Authorization"] = "Token " .. token,
    ["Content-Type"] = "application/json",
  }
  -- Each thread draws its own sequence; run_id tells runs apart (add-key).
  run_id = os.time()
  math.randomseed(run_id * 100 + thread_number)
  quantities = {}
  checkouts = 0
end

function random_user()
  return string.format("user%05d", math.random(users))
end

function add(user, product)
  local body = '{"product_id": "' .. product .. '", "quantity": 1}'
  return wrk.format("POST", "/cart/" .. user, headers, body)
end

function get(user)
  return wrk.format("GET", "/cart/" .. user, headers)
end

function random_add()
  return add(random_user(), products[math.random(#products)])
end

function done(summary, latency, requests)
  local e = summary.errors
  local seen, ok, distinct, largest, checkouts = {}, 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    checkouts = checkouts + (thread:get("checkouts") or 0)
    for _, quantity in ipairs(thread:get("quantities") or {}) do
      ok = ok + 1
      if not seen[quantity] then
        seen[quantity], distinct = true, distinct + 1
      end
      largest = math.max(largest, quantity)
    end
  end
  -- The slowest tenth, the percentiles from 90 to 100 in steps of 0.01:
  -- several runs' tails pooled give the percentile of all their requests
  -- (bench/scale_report.py, pooled_percentile_ms).
  -- (wrk's percentile(100) is 0: the last is the largest.)
  local tail = {}
  for step = 0, 999 do
    tail[#tail + 1] = string.format("%d", latency:percentile(90 + step / 100))
  end
  tail[#tail + 1] = string.format("%d", latency.max)
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "hot_ok": %d, "hot_distinct": %d, '
      .. '"hot_largest": %d, "checkouts": %d, "tail_us": [%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max,
    ok, distinct, largest, checkouts, table.concat(tail, ", ")))
end
