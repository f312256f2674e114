-- add-key: add as `add` does, each request with an Idempotency-Key of its own
-- (what a client that retries safely sends): the claim and the stored answer
-- are what this cell costs more than `add`.
dofile("bench/wrk/common.lua")

local sent = 0

function request()
  sent = sent + 1
  local keyed = {}
  for name, value in pairs(headers) do
    keyed[name] = value
  end
  keyed["Idempotency-Key"] = string.format("%d-%d-%d", run_id, thread_number, sent)
  local body = '{"product_id": "' .. products[math.random(#products)]
    .. '", "quantity": 1}'
  return wrk.format("POST", "/cart/" .. random_user(), keyed, body)
end
