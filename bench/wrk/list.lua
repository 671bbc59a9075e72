-- GET one list page (BENCH_PATH: /api/public/v1/agents?... with its cursor), the same request every time.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
