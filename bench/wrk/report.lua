-- Shared by every wrk script of the suite (loaded with dofile): remembers the threads so that
-- done() can gather per-thread counters, and prints one machine-readable line for bench.py:
--   BENCH_JSON {"requests":..., "duration_us":..., "p50_us":..., ...}
-- Scripts that need per-thread state set globals in their thread and list them in `collect`.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local function q(s) return '"' .. tostring(s) .. '"' end

bench_threads = threads

function bench_report(summary, latency, extra)
  local e = summary.errors
  local parts = {
    q("requests") .. ":" .. summary.requests,
    q("duration_us") .. ":" .. summary.duration,
    q("bytes") .. ":" .. summary.bytes,
    q("err_connect") .. ":" .. e.connect,
    q("err_read") .. ":" .. e.read,
    q("err_write") .. ":" .. e.write,
    q("err_status") .. ":" .. e.status,
    q("err_timeout") .. ":" .. e.timeout,
    q("mean_us") .. ":" .. string.format("%.1f", latency.mean),
    q("max_us") .. ":" .. latency.max,
    q("p50_us") .. ":" .. latency:percentile(50),
    q("p90_us") .. ":" .. latency:percentile(90),
    q("p99_us") .. ":" .. latency:percentile(99),
    q("p999_us") .. ":" .. latency:percentile(99.9),
  }
  for k, v in pairs(extra or {}) do
    table.insert(parts, q(k) .. ":" .. v)
  end
  io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end

function done(summary, latency, requests)
  bench_report(summary, latency)
end

-- Agent ids, one a line, from BENCH_IDS (a file). Loaded in every thread.
function bench_load_ids()
  local ids = {}
  local path = os.getenv("BENCH_IDS")
  if path then
    for line in io.lines(path) do
      if #line > 0 then table.insert(ids, line) end
    end
  end
  return ids
end

function bench_read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end
