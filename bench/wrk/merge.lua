-- merge: move a guest's cart into a shopper's, as a shop's login does (the
-- staff token merges by user id). Each thread takes pairs t, t + THREADS, ...
-- of guests mguest000001.. (2 lines each) and shoppers mtarget000001.. (1 line
-- each), each pair once; bench/workloads.py restores them before each run.
dofile("bench/wrk/common.lua")

local base_init = init
function init(args)
  base_init(args)
  threads, merge_users = tonumber(args[7]), tonumber(args[9])
  next_pair = thread_number
end

function request()
  local pair = string.format("%06d", (next_pair - 1) % merge_users + 1)
  next_pair = next_pair + threads
  return wrk.format(
    "POST",
    "/cart/mtarget" .. pair .. "/merge",
    headers,
    '{"from_user_id": "mguest' .. pair .. '"}'
  )
end
