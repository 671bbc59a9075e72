-- GET agents in turn over every id in BENCH_IDS (each thread starts at a different offset).
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local ids = bench_load_ids()
local key = os.getenv("BENCH_KEY")
local n = 0
function init(args)
  n = (tid or 1) * 7919
end
function request()
  n = n + 1
  return wrk.format("GET", "/api/public/v1/agents/" .. ids[(n % #ids) + 1], {["x-api-key"] = key})
end
