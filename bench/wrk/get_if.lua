-- GET with If-None-Match (BENCH_IF_NONE_MATCH): the 304 path of a polled resource (BENCH_PATH).
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
wrk.headers["if-none-match"] = os.getenv("BENCH_IF_NONE_MATCH")
