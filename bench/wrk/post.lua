-- POST the bytes of BENCH_BODY to BENCH_PATH: a webhook delivery sent straight to a receiver, the
-- receiver's own ceiling beside the deliveries dialplane makes to it.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local body = bench_read_file(os.getenv("BENCH_BODY"))
local path = os.getenv("BENCH_PATH") or "/"
function request()
  return wrk.format("POST", path, {["content-type"] = "application/json"}, body)
end
