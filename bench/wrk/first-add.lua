-- first-add: the first write to a new cart. Each request adds one unit of a
-- random product for another of the users fresh000001..FRESH_USERS, who
-- exist but have no cart row (bench/workloads.py seeds them and removes the
-- carts again before each run). Thread t of THREADS takes users t,
-- t + THREADS, t + 2 * THREADS...; past FRESH_USERS it would start again on
-- carts it created, which bench/workloads.py's check reports.
dofile("bench/wrk/common.lua")

local base_init = init
function init(args)
  base_init(args)
  fresh_users, threads = tonumber(args[6]), tonumber(args[7])
  next_fresh = thread_number
end

function request()
  local user = string.format("fresh%06d", (next_fresh - 1) % fresh_users + 1)
  next_fresh = next_fresh + threads
  return add(user, products[math.random(#products)])
end
