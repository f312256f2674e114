-- mixed: 70% get, 30% add, random users and products.
dofile("bench/wrk/common.lua")

function request()
  if math.random() < 0.7 then
    return get(random_user())
  end
  return random_add()
end
