-- POST /api/public/v1/agents with a full ~3 KB agent (BENCH_BODY, a file in which __NAME__ is
-- replaced by a distinct name per request).
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local key = os.getenv("BENCH_KEY")
local template = bench_read_file(os.getenv("BENCH_BODY"))
local s, e = template:find("__NAME__", 1, true)
local head, tail = template:sub(1, s - 1), template:sub(e + 1)
local n = 0
function request()
  n = n + 1
  return wrk.format("POST", "/api/public/v1/agents",
    {["x-api-key"] = key, ["content-type"] = "application/json"},
    head .. "Bench create " .. (tid or 1) .. "-" .. n .. tail)
end
