-- GET one agent (BENCH_PATH), the same request every time. Also used against nginx.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
