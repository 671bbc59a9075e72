#!/usr/bin/env python3
"""The dialplane benchmark suite (stdlib only). Run it through `bench/run`, which installs wrk and nginx,
builds the release binary and sets BENCH_BIN and BENCH_TMP; see bench/README.md.

For each backend (SQLite, PostgreSQL) it starts the release server on a fresh database, creates
BENCH_AGENTS agents of about 3 KB, and measures with wrk: GET one agent, GET across all agents, a nested
PATCH, the first list page, and create. It checks that every acknowledged PATCH survives a SIGKILL (also
one in the middle of a PATCH load), fills the store to BENCH_DEEP agents, measures the first list page
against the page at that depth and the load again while sampling the server's resident memory, and
times cold starts to /readyz. Baselines on the same machine in the same run: nginx serving the same
response bytes as static files, a naive SQLite loop committing one ~3 KB row per transaction (WAL,
synchronous=FULL), and pgbench's simple-update on the same PostgreSQL server. Results go to
bench/results/<timestamp>.json and docs/BENCHMARKS.md.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import platform
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path


BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import agent_body  # noqa: E402
import calls  # noqa: E402
import knowledge  # noqa: E402
import render  # noqa: E402
import sqlite_naive  # noqa: E402
import webhooks  # noqa: E402
from baselines import nginx_baseline, pg_admin, pg_fresh_db, pg_settings, pgbench_baseline  # noqa: E402
from harness import (  # noqa: E402
    API, REPO, Client, Config, Foreign, RssSampler, Server, cleanup, log, run, wait_idle, wrk,
)




# ------------------------------------------------------------------------------------------- seeding

def seed(port: int, key: str, count: int, workers: int, prefix: str, keep: bool) -> list[tuple[str, str]]:
    """Create `count` agents with concurrent keep-alive POSTs; (agentId, createdAt) of each if `keep`."""
    template = agent_body.body_bytes("__NAME__")
    head, tail = template.split(b"__NAME__")
    out: list[tuple[str, str]] = []
    lock = threading.Lock()
    done = [0]
    step = max(count // 10, 1)
    id_re = re.compile(rb'"agentId":"([^"]+)"')
    at_re = re.compile(rb'"createdAt":"([^"]+)"')

    def work(w: int) -> None:
        c = Client(port, key)
        for i in range(w, count, workers):
            body = head + f"{prefix} {i:06d}".encode() + tail
            status, _, data = c.request("POST", f"{API}/agents", body)
            if status != 201:
                raise RuntimeError(f"seed POST answered {status}: {data[:500]!r}")
            with lock:
                if keep:
                    out.append((id_re.search(data).group(1).decode(), at_re.search(data).group(1).decode()))
                done[0] += 1
                if done[0] % step == 0:
                    log(f"  seeded {done[0]}/{count}")
        c.close()

    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        for f in [ex.submit(work, w) for w in range(workers)]:
            f.result()
    out.sort(key=lambda t: t[1])
    return out


def walk_pages(port: int, key: str, depth: int | None = None) -> tuple[str | None, int, dict]:
    """Walk the list in created_at order, pages of 100, to item `depth` (or the end): the cursor reached,
    the number of items walked, and how long the pages took."""
    c = Client(port, key)
    n, cursor, times = 0, None, []
    while depth is None or n < depth:
        q = {"pageSize": "100", "sortBy": "created_at", "sortDirection": "asc"}
        if cursor:
            q["cursor"] = cursor
        t = time.perf_counter()
        page = c.json("GET", f"{API}/agents?{urllib.parse.urlencode(q)}")
        times.append(time.perf_counter() - t)
        n += len(page["data"])
        if not page["pagination"]["hasMore"]:
            break
        cursor = page["pagination"]["nextCursor"]
    c.close()
    ms = sorted(x * 1000 for x in times)
    walk = {"pages": len(ms), "seconds": round(sum(ms) / 1000, 2),
            "p50Ms": round(ms[len(ms) // 2], 2) if ms else None,
            "maxMs": round(ms[-1], 1) if ms else None,
            "over100Ms": sum(1 for x in ms if x > 100)}
    return cursor, n, walk


def count_agents(port: int, key: str) -> tuple[int, dict]:
    """The number of agents, by walking the whole list; and the walk's timings."""
    _, n, walk = walk_pages(port, key)
    return n, walk


def deep_cursor(port: int, key: str, depth: int) -> tuple[str, int, dict]:
    """The exact cursor after item `depth` (a multiple of 100), found by walking the list."""
    return walk_pages(port, key, depth)



# ------------------------------------------------------------------------------------------ checking

def durability_check(cfg: Config, server: Server, key: str, ids: list[str], ack_files: list[Path]) -> dict:
    """After the server was SIGKILLed and restarted: every acknowledged PATCH must be stored. For each
    agent, the highest acknowledged version (ETag) must exist with the voiceId that request wrote, and the
    agent's current ETag must not be lower."""
    acked: dict[int, list[tuple[int, str]]] = {}
    for f in ack_files:
        if not f.exists():
            continue
        for line in f.read_text().splitlines():
            idx, etag, rid = line.split()
            acked.setdefault(int(idx), []).append((int(etag), rid))
    c = Client(server.port, key)
    checked = missing = stale = 0
    problems = []
    for idx, recs in sorted(acked.items()):
        agent = ids[idx - 1]
        status, headers, _ = c.request("GET", f"{API}/agents/{agent}")
        current = int(re.search(r"\d+", headers.get("etag", "0")).group(0)) if status == 200 else -1
        for etag, rid in recs:
            checked += 1
            if current < etag:
                stale += 1
                problems.append(f"{agent}: current version {current} < acknowledged {etag}")
                continue
            st, _, data = c.request("GET", f"{API}/agents/{agent}/versions/{etag}")
            voice = json.loads(data)["data"]["conversationConfig"]["tts"]["voiceId"] if st == 200 else None
            if voice != rid:
                missing += 1
                problems.append(f"{agent} version {etag}: voiceId {voice!r}, acknowledged {rid!r}")
    c.close()
    return {"agentsChecked": len(acked), "versionsChecked": checked, "stale": stale, "missing": missing,
            "pass": checked > 0 and stale == 0 and missing == 0, "problems": problems[:20]}


# ------------------------------------------------------------------------------------------- backend

def healthz_latencies(port: int, seconds: float) -> dict:
    """GET /healthz one after another on one connection for `seconds`: latency percentiles in ms."""
    c = Client(port)
    lat: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        status, _, _ = c.request("GET", "/healthz")
        lat.append((time.perf_counter() - t) * 1000)
        assert status == 200, status
    c.close()
    lat.sort()
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 3)  # noqa: E731
    return {"requests": len(lat), "p50Ms": pick(0.5), "p90Ms": pick(0.9), "p99Ms": pick(0.99)}


def heavy_patches(cfg: Config, port: int, key: str, agent_id: str, clients: int = 4) -> dict:
    """/healthz latency alone (the baseline), then while `clients` clients send JSON Patches of the
    most operations allowed (1 000 `add /tags/0`, as a dry run so the agent stays as it is): CPU-heavy
    work must not stall the async workers that answer everyone else."""
    seconds = max(3, min(cfg.seconds, 10))
    wait_idle(cfg, "/healthz alone")
    alone = healthz_latencies(port, seconds)
    ops = json.dumps([{"op": "add", "path": "/tags/0", "value": f"t{i}"} for i in range(1000)]).encode()
    stop = threading.Event()
    sent = [0] * clients

    def patcher(n: int) -> None:
        c = Client(port, key)
        while not stop.is_set():
            status, _, _ = c.request("PATCH", f"{API}/agents/{agent_id}?dryRun=true", ops,
                                     {"content-type": "application/json-patch+json"})
            assert status in (200, 400), status
            sent[n] += 1
        c.close()

    threads = [threading.Thread(target=patcher, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # let the patchers reach full speed before measuring
    t0 = time.perf_counter()
    loaded = healthz_latencies(port, seconds)
    elapsed = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join()
    loaded["patchesPerSecond"] = round(sum(sent) / (elapsed + 0.5), 1)
    out = {"alone": alone, "underPatches": loaded, "clients": clients, "operations": 1000}
    log(f"  /healthz alone p90 {alone['p90Ms']} ms; under {clients} clients of 1 000-operation patches "
        f"({loaded['patchesPerSecond']}/s) p90 {loaded['p90Ms']} ms")
    return out


def bench_backend(cfg: Config, backend: str, state: dict) -> dict:
    res: dict = {"backend": backend, "benches": {}, "checks": {}}
    B = res["benches"]
    if backend == "sqlite":
        db_path = cfg.tmp / "sqlite" / "dialplane.db"
        db_path.parent.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite://{db_path}"
    else:
        pg_fresh_db(cfg, cfg.pg_db)
        db_url = f"{cfg.pg_url}/{cfg.pg_db}"
    run([cfg.binary, "migrate", "--database", db_url])
    key = json.loads(run([cfg.binary, "keys", "create", "--database", db_url, "--workspace", "bench",
                          "--user-id", "bench", "--user-email", "bench@example.com", "--json"]).stdout)["key"]
    server = Server(cfg, backend, db_url)
    res["firstStartMs"] = round(server.start(), 1)
    log(f"{backend}: server on port {server.port}, ready in {res['firstStartMs']} ms")
    c = Client(server.port, key)

    # The documents the agent names (an agent may name only documents of its workspace), then the
    # create body, validated by the server before anything else.
    docs = []
    for name, text in (("Prices 2025", "A check-up is 45 euros; a cleaning 70 euros."),
                       ("Opening hours", "Open Monday to Friday, 8 to 19; Saturday 9 to 13.")):
        status, _, data = c.request("POST", f"{API}/knowledge-base/documents/text",
                                    json.dumps({"name": name, "text": text}).encode())
        if status != 201:
            raise RuntimeError(f"creating the bench agent's documents: {status} {data[:500]!r}")
        docs.append(json.loads(data)["data"]["documentId"])
    agent_body.use_documents(docs)
    body = agent_body.body_bytes("Bench validation")
    status, _, data = c.request("POST", f"{API}/agents?dryRun=true", body)
    if status != 200:
        raise RuntimeError(f"the bench agent is not valid: {status} {data[:1000]!r}")
    res["createBodyBytes"] = len(body)

    log(f"{backend}: creating {cfg.agents} agents")
    t = time.perf_counter()
    seeded = seed(server.port, key, cfg.agents, cfg.seed_workers, "Bench agent", keep=True)
    res["seedRps"] = round(cfg.agents / (time.perf_counter() - t), 1)
    ids = [a for a, _ in seeded]
    ids_file = cfg.tmp / f"{backend}-ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    one = ids[0]
    status, headers, get_bytes = c.request("GET", f"{API}/agents/{one}")
    assert status == 200, status
    res["getResponseBytes"] = len(get_bytes)
    list_path = f"{API}/agents?pageSize=50&sortBy=created_at&sortDirection=asc"
    status, _, list_bytes = c.request("GET", list_path)
    assert status == 200, status
    res["listResponseBytes"] = len(list_bytes)
    # The RFC 3339 timestamp cursor of the spec.
    mid = seeded[len(seeded) // 2]
    q = urllib.parse.urlencode({"pageSize": "50", "sortBy": "created_at", "sortDirection": "asc", "cursor": mid[1]})
    status, _, data = c.request("GET", f"{API}/agents?{q}")
    res["checks"]["timestampCursor"] = {
        "status": status,
        "items": len(json.loads(data)["data"]) if status == 200 else 0,
        "firstAfterCursor": status == 200 and all(
            i["metadata"]["createdAt"] > mid[1] for i in json.loads(data)["data"]),
    }

    auth = {"BENCH_KEY": key}
    if "nginx" not in state:
        log("baseline: nginx serving the same bytes")
        state["nginx"] = nginx_baseline(
            cfg, {f"{API}/agents/{one}": get_bytes, list_path: list_bytes},
            [("nginx GET agent", "get.lua", {**auth, "BENCH_PATH": f"{API}/agents/{one}"}),
             ("nginx GET list page", "list.lua", {**auth, "BENCH_PATH": list_path}),
             ("nginx PATCH answered", "patch.lua", {**auth, "BENCH_IDS": ids_file, "BENCH_ACK_FILE": ""})],
            patch_answer=True)
        state["nginx"]["bytes"] = {"agent": len(get_bytes), "list": len(list_bytes)}

    B["get_one"] = wrk(cfg, f"{backend} GET one agent", "get.lua", server.port, {**auth, "BENCH_PATH": f"{API}/agents/{one}"}, pid=server.pid)
    B["get_many"] = wrk(cfg, f"{backend} GET across {len(ids)} agents", "get_many.lua", server.port,
                        {**auth, "BENCH_IDS": ids_file}, pid=server.pid)
    ack1 = cfg.tmp / f"{backend}-acks-load.txt"
    B["patch"] = wrk(cfg, f"{backend} PATCH nested", "patch.lua", server.port,
                     {**auth, "BENCH_IDS": ids_file, "BENCH_ACK_FILE": ack1}, pid=server.pid,
                     metrics_port=server.metrics_port)
    # The same PATCHes as a dry run: all of a PATCH's work (parsing, merge, validation, the writer's
    # SQL, the answer) but the write, which is rolled back: the most a durable PATCH could reach
    # if storing it cost nothing.
    B["patch_dry"] = wrk(cfg, f"{backend} PATCH nested, dry run", "patch.lua", server.port,
                         {**auth, "BENCH_IDS": ids_file, "BENCH_ACK_FILE": "", "BENCH_PATCH_QUERY": "?dryRun=true"},
                         pid=server.pid)
    B["list_first"] = wrk(cfg, f"{backend} list first page", "list.lua", server.port, {**auth, "BENCH_PATH": list_path}, pid=server.pid)
    B["create"] = wrk(cfg, f"{backend} create", "create.lua", server.port,
                      {**auth, "BENCH_BODY": write_template(cfg)}, pid=server.pid,
                      metrics_port=server.metrics_port)

    res["checks"]["heavyPatches"] = heavy_patches(cfg, server.port, key, one)

    # Durability: SIGKILL right after the load, then once more in the middle of a PATCH load.
    log(f"{backend}: durability: SIGKILL after the PATCH load, restart, then SIGKILL during a PATCH load")
    server.stop(signal.SIGKILL)
    server.start()
    ack2 = cfg.tmp / f"{backend}-acks-crash.txt"
    crash_secs = max(4, min(cfg.seconds, 10))
    killer = threading.Timer(crash_secs / 2, lambda: server.proc.send_signal(signal.SIGKILL))
    killer.start()
    crash = wrk(cfg, f"{backend} PATCH, SIGKILL at {crash_secs / 2:.0f}s", "patch.lua", server.port,
                {**auth, "BENCH_IDS": ids_file, "BENCH_ACK_FILE": ack2}, seconds=crash_secs, idle_check=False,
                warmup=False, retries=0)
    killer.join()
    server.proc.wait()
    server.start()
    dur = durability_check(cfg, server, key, ids, [Path(f) for f in B["patch"]["ackFiles"]] + [ack2])
    dur["ackedDuringLoad"] = B["patch"].get("ok2xxAllAttempts")
    dur["ackedBeforeCrash"] = crash.get("ok2xx")
    res["checks"]["durability"] = dur
    log(f"  durability: {dur}")

    # Fill the store to BENCH_DEEP agents.
    have, _ = count_agents(server.port, key)
    res["agentsBeforeTopUp"] = have
    if have < cfg.deep:
        log(f"{backend}: creating {cfg.deep - have} more agents to reach {cfg.deep}")
        t = time.perf_counter()
        seed(server.port, key, cfg.deep - have, cfg.seed_workers, "Bench deep", keep=False)
        res["topUpRps"] = round((cfg.deep - have) / (time.perf_counter() - t), 1)
    stored, first_walk = count_agents(server.port, key)
    res["storedAgents"] = stored
    depth = ((stored - 50) // 100) * 100
    cursor, reached, walk = deep_cursor(server.port, key, depth)
    deep_path = f"{API}/agents?" + urllib.parse.urlencode(
        {"pageSize": "50", "sortBy": "created_at", "sortDirection": "asc", "cursor": cursor})
    status, _, data = c.request("GET", deep_path)
    page = json.loads(data)
    res["deepPage"] = {"depth": reached, "items": len(page["data"]), "status": status,
                       "firstWalk": first_walk, "walk": walk}
    log(f"{backend}: {stored} agents stored; deep page after item {reached} has {len(page['data'])} items")

    # Restart so the memory figures are those of a server serving a large store, not of the seeding.
    server.stop()
    server.start()
    res["rssIdleAfterStartMiB"] = round(RssSampler.read(server.pid).get("VmRSS", 0) / 1024, 1)
    with RssSampler(server.pid) as rss:
        B["deep_list_first"] = wrk(cfg, f"{backend} list first page @{stored}", "list.lua", server.port,
                                   {**auth, "BENCH_PATH": list_path}, pid=server.pid)
        B["deep_list_deep"] = wrk(cfg, f"{backend} list page at depth {reached} @{stored}", "list.lua", server.port,
                                  {**auth, "BENCH_PATH": deep_path}, pid=server.pid)
        B["deep_get_many"] = wrk(cfg, f"{backend} GET across {len(ids)} agents @{stored}", "get_many.lua",
                                 server.port, {**auth, "BENCH_IDS": ids_file}, pid=server.pid)
        B["deep_patch"] = wrk(cfg, f"{backend} PATCH nested @{stored}", "patch.lua", server.port,
                              {**auth, "BENCH_IDS": ids_file}, pid=server.pid,
                              metrics_port=server.metrics_port)
    res["rssUnderLoad"] = rss.summary()
    res["rssUnderLoad"]["hwmMiB"] = round(RssSampler.read(server.pid).get("VmHWM", 0) / 1024, 1)
    log(f"  RSS under load @{stored}: {res['rssUnderLoad']}")

    # Cold start on the full store.
    res["shutdownSeconds"] = round(server.stop(), 3)
    cold = []
    wait_idle(cfg, "the cold starts")
    for _ in range(cfg.cold_starts):
        cold.append(round(server.start(), 1))
        server.stop()
    res["coldStartMs"] = cold
    res["coldStartMedianMs"] = statistics.median(cold)
    log(f"  cold starts to /readyz: {cold} ms")

    # The knowledge base, on a server whose workspace quota holds what the benchmark stores.
    kb_server = Server(cfg, f"{backend}-kb", db_url, extra=["--kb-quota-mib", "1048576"])
    kb_server.start()
    log(f"{backend}: knowledge base")
    res["knowledge"] = knowledge.knowledge_bench(cfg, backend, kb_server, key)
    kb_server.stop()
    res["calls"] = calls.calls_bench(cfg, backend, db_url, key, agent_body.body_bytes("__NAME__"))
    res["webhooks"] = webhooks.webhooks_bench(cfg, backend)

    counts = server.count_log({"serverPanics": r"panicked", "serverErrors": r"^\S+\s+ERROR\b",
                               "serverWarnings": r"^\S+\s+WARN\b", "server5xx": r"status=5\d\d"})
    res.update(counts)
    if backend == "sqlite":
        res["dbFileMiB"] = round(sum(f.stat().st_size for f in db_path.parent.iterdir()) / 2**20, 1)
    c.close()
    return res


def write_template(cfg: Config) -> Path:
    p = cfg.tmp / "create-body.json"
    p.write_bytes(agent_body.body_bytes("__NAME__"))  # each backend's own document ids
    return p


# ---------------------------------------------------------------------------------------------- main

def serve_defaults(binary: str) -> dict[str, str]:
    """The defaults of `dialplane serve`, from its --help."""
    text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True).stdout
    out = {}
    for block in re.split(r"\n(?=\s*(?:-\w, )?--)", text):
        m = re.match(r"\s*(?:-\w, )?(--[a-z0-9-]+)", block)
        d = re.search(r"\[default: ([^\]]*)\]", block)
        if m and d and m.group(1) != "--help":
            out[m.group(1)] = d.group(1)
    return out


def machine(cfg: Config) -> dict:
    model = ""
    try:
        model = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = next((ln.split()[1] for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), "0")

    def cmd(args: list[str]) -> str:
        try:
            p = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
            return (p.stdout + p.stderr).strip().splitlines()[0] if (p.stdout + p.stderr).strip() else ""
        except OSError:
            return ""

    dirty = bool(cmd(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {
        "cpus": os.cpu_count(),
        "cpuModel": model,
        "memGiB": round(int(mem) / 2**20, 1),
        "kernel": platform.release(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": cmd(["git", "rev-parse", "--short", "HEAD"]) + (" (with uncommitted changes)" if dirty else ""),
        "wrk": cmd(["wrk", "--version"]).split(" Copyright")[0],
        "nginx": cmd(["nginx", "-v"]).replace("nginx version: ", ""),
        "pythonSqlite": sqlite3.sqlite_version,
    }


def main() -> int:
    cfg = Config()
    if not cfg.tmp or not cfg.tmp.is_dir():
        cfg.tmp = Path(__import__("tempfile").mkdtemp(prefix="dialplane-bench-"))
    if not Path(cfg.binary).exists():
        sys.exit(f"bench: no binary at {cfg.binary} (bench/run builds it)")
    fs = subprocess.run(["df", "--output=fstype", str(cfg.tmp)], capture_output=True, text=True).stdout.split()[-1:]
    results: dict = {"config": cfg.as_dict(), "machine": machine(cfg), "baselines": {}, "backends": {},
                     "serverMetrics": "scraped"}
    results["machine"]["filesystem"] = fs[0] if fs else "?"
    results["serveDefaults"] = serve_defaults(cfg.binary)
    results["machine"]["loadavgAtStart"] = open("/proc/loadavg").read().split()[:3]
    log(f"config {cfg.as_dict()}, temp dir {cfg.tmp}")
    state: dict = {}
    started = time.monotonic()
    try:
        for backend in cfg.backends:
            if backend == "sqlite":
                tries = []
                for _ in range(cfg.retries + 1):
                    wait_idle(cfg, "the naive SQLite baseline")
                    log(f"baseline: naive durable SQLite commits for {cfg.seconds}s")
                    with Foreign() as foreign:
                        b = sqlite_naive.measure(cfg.tmp / "naive" / "naive.db", cfg.seconds,
                                                 agent_body.body_bytes("Naive baseline row"))
                    b["foreignCpu"] = round(foreign.share, 3)
                    tries.append(b)
                    if foreign.share <= 0.10:
                        break
                results["baselines"]["sqlite_naive"] = dict(min(tries, key=lambda t: t["foreignCpu"]),
                                                            attempts=len(tries))
                b = results["baselines"]["sqlite_naive"]
                log(f"  naive SQLite: {b['rps']:.0f} commits/s, p50 {b['p50Ms']} ms, p99 {b['p99Ms']} ms")
            else:
                results["machine"]["postgres"] = pg_settings(cfg)
                log("baseline: pgbench simple-update")
                results["baselines"]["pgbench"] = pgbench_baseline(cfg)
            results["backends"][backend] = bench_backend(cfg, backend, state)
            if "nginx" in state:
                results["baselines"]["nginx"] = state["nginx"]
    finally:
        cleanup()
        if "postgres" in cfg.backends and not os.environ.get("BENCH_KEEP_TMP"):
            try:
                pg_admin(cfg, f'DROP DATABASE IF EXISTS "{cfg.pg_db}" WITH (FORCE)')
            except Exception as e:  # noqa: BLE001
                log(f"could not drop {cfg.pg_db}: {e}")
    results["elapsedSeconds"] = round(time.monotonic() - started)
    results["machine"]["loadavgAtEnd"] = open("/proc/loadavg").read().split()[:3]
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    rpath = cfg.results_dir / f"{stamp}{'-quick' if cfg.quick else ''}.json"
    rpath.write_text(json.dumps(results, indent=2) + "\n")
    log(f"results: {rpath}")
    md = render.markdown(results, cfg.command)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text(md)
    log(f"wrote {cfg.out}")
    print(render.summary(results))
    return 0


if __name__ == "__main__":
    def _term(signum, frame):
        cleanup()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    sys.exit(main())
