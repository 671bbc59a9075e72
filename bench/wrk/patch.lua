-- PATCH agents in turn over every id in BENCH_IDS with a nested change that always changes the agent
-- (a unique conversationConfig.tts.voiceId and a rotating prompt temperature), so every 2xx is a new
-- stored version. Each request carries x-request-id "<thread>-<agent index>-<seq>", which the server echoes; from
-- the 2xx answers this script remembers, per agent, the highest acknowledged version (ETag) and the
-- voiceId that request wrote, and done() writes them to BENCH_ACK_FILE for the durability check.
-- BENCH_PATCH_QUERY, if set, is appended to each path (the suite's dry run: "?dryRun=true").
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local ids = bench_load_ids()
local key = os.getenv("BENCH_KEY")
local query = os.getenv("BENCH_PATCH_QUERY") or ""
local n = 0
acked = {}      -- agent index -> "etag voiceId"
ok = 0
statuses = {}   -- status -> count (non-2xx only)

function init(args)
  n = 0
end

function request()
  n = n + 1
  local i = ((n * 2 + (tid or 1)) % #ids) + 1
  local rid = "b" .. (tid or 1) .. "-" .. i .. "-" .. n
  local temp = (n % 200) / 100
  local body = '{"conversationConfig":{"agent":{"prompt":{"temperature":' .. temp ..
    '}},"tts":{"voiceId":"' .. rid .. '"}}}'
  return wrk.format("PATCH", "/api/public/v1/agents/" .. ids[i] .. query,
    {["x-api-key"] = key, ["content-type"] = "application/json", ["x-request-id"] = rid}, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    local rid = headers["x-request-id"]
    local etag = headers["etag"] or headers["ETag"]
    if rid and etag then
      local t, i = rid:match("^b(%d+)-(%d+)-")
      local v = tonumber(etag:match("(%d+)"))
      local prev = acked[i]
      if prev == nil or v > tonumber(prev:match("^(%d+)")) then
        acked[i] = v .. " " .. rid
      end
    end
  else
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local best = {}
  local total_ok = 0
  local bad = 0
  for _, t in ipairs(bench_threads) do
    total_ok = total_ok + (t:get("ok") or 0)
    for s, c in pairs(t:get("statuses") or {}) do bad = bad + c end
    for i, rec in pairs(t:get("acked") or {}) do
      local v = tonumber(rec:match("^(%d+)"))
      if best[i] == nil or v > tonumber(best[i]:match("^(%d+)")) then best[i] = rec end
    end
  end
  local path = os.getenv("BENCH_ACK_FILE")
  if path and #path > 0 then
    local f = assert(io.open(path, "w"))
    for i, rec in pairs(best) do f:write(i, " ", rec, "\n") end
    f:close()
  end
  bench_report(summary, latency, {ok = total_ok, non2xx = bad})
end
