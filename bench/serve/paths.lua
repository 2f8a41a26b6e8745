-- GET the paths in PATHS (separated by spaces or commas), in turn. wrk -s bench/serve/paths.lua URL
dofile(os.getenv("LUA_DIR") .. "/report.lua")
local paths = {}
for p in string.gmatch(os.getenv("PATHS") or "/", "[^%s,]+") do paths[#paths + 1] = p end
local i = 0

request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
