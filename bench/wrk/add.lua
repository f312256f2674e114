-- add: POST a random product to a random user's cart.
dofile("bench/wrk/common.lua")

request = random_add
