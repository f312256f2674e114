-- checkout: hold a cart, then complete the hold. Each thread holds the carts
-- of users checkout000001..CHECKOUT_USERS in turn (thread t takes users t,
-- t + THREADS, ...; bench/workloads.py gives each 2 lines and restores them
-- before each run); the hold's answer (201) names the checkout and the user,
-- and the thread's next request completes it. wrk counts both requests; a
-- "checkout" is one completed (200), counted in `checkouts`.
dofile("bench/wrk/common.lua")

local base_init = init
function init(args)
  base_init(args)
  threads, checkout_users = tonumber(args[7]), tonumber(args[8])
  next_user = thread_number
  -- The completes still to send, oldest first.
  completes = {}
  -- No body, so no Content-Type.
  post_headers = {["Authorization"] = headers["Authorization"]}
end

function request()
  local path = table.remove(completes, 1)
  if not path then
    local user = string.format("checkout%06d", (next_user - 1) % checkout_users + 1)
    next_user = next_user + threads
    path = "/cart/" .. user .. "/checkout"
  end
  return wrk.format("POST", path, post_headers)
end

function response(status, _, body)
  if status == 201 then
    local id = string.match(body, '"checkout": ?{"id": ?"([^"]+)"')
    local user = string.match(body, '"user_id": ?"([^"]+)"')
    completes[#completes + 1] = "/cart/" .. user .. "/checkout/" .. id .. "/complete"
  elseif status == 200 then
    checkouts = checkouts + 1
  end
end
