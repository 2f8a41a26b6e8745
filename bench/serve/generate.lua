-- POST /api/v1/generate with a random seed and, when AXIS is set, a random move along it.
-- wrk -s bench/serve/generate.lua URL (bench/serve_load.sh)
dofile(os.getenv("LUA_DIR") .. "/report.lua")
local axis = os.getenv("AXIS")
math.randomseed(os.time())

request = function()
  local body = string.format('{"seed": %d', math.random(0, 1000000))
  if axis and axis ~= "" then body = body .. string.format(', "moves": {"%s": %.2f}', axis, math.random() * 4 - 2) end
  return wrk.format("POST", "/api/v1/generate", {["Content-Type"] = "application/json"}, body .. "}")
end
