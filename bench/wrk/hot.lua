-- hot: every request adds one unit of the same product to the same cart.
-- Each 2xx answer carries the line's new quantity; done() counts them, so
-- bench/workloads.py can check that the final quantity matches the adds.
dofile("bench/wrk/common.lua")

function request()
  return add(hot_user, products[1])
end

function response(status, headers, body)
  if status == 200 or status == 201 then
    quantities[#quantities + 1] = tonumber(string.match(body, '"quantity": ?(%d+)'))
  end
end
