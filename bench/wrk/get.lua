-- get: read a random user's cart (each starts with 3 lines).
dofile("bench/wrk/common.lua")

function request()
  return get(random_user())
end
