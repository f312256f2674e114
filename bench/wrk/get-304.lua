-- get-304: poll a cart with its current ETag in If-None-Match (answer: 304,
-- no body). bench/workloads.py writes the polled carts' ETags to the file
-- named by the fifth argument just before the cell: "user00001 \"1-...\""
-- per line.
dofile("bench/wrk/common.lua")

local polled = {}

local base_init = init
function init(args)
  base_init(args)
  for line in io.lines(args[5]) do
    local user, etag = string.match(line, "^(%S+) (.+)$")
    polled[#polled + 1] = { user = user, etag = etag }
  end
end

function request()
  local cart = polled[math.random(#polled)]
  local conditional = {}
  for name, value in pairs(headers) do
    conditional[name] = value
  end
  conditional["If-None-Match"] = cart.etag
  return wrk.format("GET", "/cart/" .. cart.user, conditional)
end
