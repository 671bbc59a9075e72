"""Calls benchmarks (issue #22), run by bench.py in the same run as the rest:

- ingestion: a call's whole life as a runtime reports it (create, 20 turns in 4 requests, finish),
  from 8 clients: calls per second and the p99 of a whole call, beside the durable baseline of the
  backend (the naive SQLite commit loop; pgbench's simple-update);
- GET /conversations: the first page and a page at depth BENCH_CONVERSATIONS (1 000 000) stored
  conversations, with and without an agentId filter (the store filled straight in the database);
- GET /agents/{id}/runtime-config beside nginx serving the same bytes, and its 304 path.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import time

from baselines import nginx_baseline
from harness import API, Client, Config, Server, env_int, log, wait_idle, wrk
from knowledge import hammer, percentiles

CLIENTS = 8
TURN_BATCHES = 4
TURNS_A_BATCH = 5
# The stored start of conversation i is T0 + i seconds.
T0 = 1_700_000_000


def call_life(port: int, key: str, agent: str, tag: str):
    """For `hammer`: one call's whole life per invocation; it succeeds when every request does."""
    counter = iter(range(10**9))

    def make():
        c = Client(port, key)

        def call() -> bool:
            n = next(counter)
            body = {"agentId": agent, "direction": "inbound", "externalId": f"{tag}-{id(c)}-{n}",
                    "contactNumber": "+14155550123", "callerNumber": "+14155550123"}
            status, _, data = c.request("POST", f"{API}/conversations", json.dumps(body).encode())
            if status != 201:
                return False
            cid = json.loads(data)["data"]["conversationId"]
            for b in range(TURN_BATCHES):
                turns = [{"role": "agent" if t % 2 == 0 else "user",
                          "text": f"Turn {b * TURNS_A_BATCH + t} of the call, a sentence of ordinary length.",
                          "startMs": (b * TURNS_A_BATCH + t) * 2000,
                          "endMs": (b * TURNS_A_BATCH + t) * 2000 + 1500} for t in range(TURNS_A_BATCH)]
                status, _, _ = c.request("POST", f"{API}/conversations/{cid}/turns",
                                         json.dumps({"turns": turns}).encode())
                if status != 200:
                    return False
            done = {"status": "completed", "summary": "The caller booked a check-up for Tuesday."}
            status, _, _ = c.request("PATCH", f"{API}/conversations/{cid}", json.dumps(done).encode())
            return status == 200
        return call
    return make


def ingestion(cfg: Config, port: int, key: str, agent: str, tag: str) -> dict:
    seconds = max(3, cfg.seconds)
    wait_idle(cfg, "call ingestion")
    lat, elapsed, failed = hammer(CLIENTS, seconds, call_life(port, key, agent, tag))
    writes = 2 + TURN_BATCHES
    out = {"clients": CLIENTS, "writesPerCall": writes, "callsPerSecond": round(len(lat) / elapsed, 1),
           "writesPerSecond": round(len(lat) * writes / elapsed, 1), "failed": failed, **percentiles(lat)}
    log(f"  ingestion: {out['callsPerSecond']} calls/s ({out['writesPerSecond']} writes/s), "
        f"p99 of a call {out.get('p99Ms')} ms")
    return out


def document(i: int, agent: str) -> str:
    """The stored record of bench conversation `i` (valid, as the server writes it)."""
    return json.dumps({
        "conversationId": conversation_id(i), "agentId": agent, "agentName": "Bench agent",
        "agentVersion": 1, "status": "completed", "direction": "inbound", "conversationDuration": 60,
        "startTimeUnix": T0 + i, "endTimeUnix": T0 + i + 60, "summary": f"Bench call {i}",
        "transcript": "", "contactNumber": None, "callerNumber": None, "sentiment": None,
        "keyMoments": [], "appointmentScheduled": {}, "dataCollected": {}, "voiceMailDetected": False,
        "errorMessage": None, "callTransferred": False, "recordingUrl": None, "optedOut": False,
        "externalId": None, "turns": [],
        "metadata": {"createdAt": "2026-12-05T00:00:00.000000Z", "updatedAt": "2026-12-05T00:00:00.000000Z",
                     "createdBy": {"userId": "bench", "userEmail": "bench@example.com"}},
    }, separators=(",", ":"))


def conversation_id(i: int) -> str:
    """A UUID that sorts with `i` (ties on start time never happen here, so the order is by start)."""
    return f"{i:08x}-0000-7000-8000-000000000000"


def seed_sqlite(db_path: str, agents: list[str], want: int) -> None:
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    with con:
        con.execute("DELETE FROM conversations WHERE workspace = 'bench' AND user_id = 'bench-seed'")
    step = 50_000
    for lo in range(0, want, step):
        rows = []
        for i in range(lo, min(want, lo + step)):
            agent = agents[i % len(agents)]
            rows.append((conversation_id(i), "bench", agent, "Bench agent", "inbound", "completed",
                         T0 + i, T0 + i + 60, 60, f"Bench call {i}", "2026-12-05T00:00:00.000000Z",
                         "bench-seed", "bench@example.com", 1, 0, document(i, agent)))
        with con:
            con.executemany(
                "INSERT INTO conversations (conversation_id, workspace, agent_id, agent_name, direction, status,"
                " start_time, end_time, duration, summary, created_at, user_id, user_email, revision,"
                " transcript_sent, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def seed_postgres(db_url: str, agents: list[str], want: int) -> None:
    template = document(0, "__AGENT__").replace(conversation_id(0), "__ID__").replace(
        str(T0 + 60), "__END__").replace(str(T0), "__START__").replace("Bench call 0", "Bench call __I__")
    agent_list = ",".join(f"'{a}'" for a in agents)
    sql = f"""
DELETE FROM conversations WHERE workspace = 'bench' AND user_id = 'bench-seed';
INSERT INTO conversations (conversation_id, workspace, agent_id, agent_name, direction, status, start_time,
    end_time, duration, summary, created_at, user_id, user_email, revision, transcript_sent, document)
SELECT lpad(to_hex(g), 8, '0') || '-0000-7000-8000-000000000000', 'bench', a.agent, 'Bench agent', 'inbound',
    'completed', {T0} + g, {T0} + g + 60, 60, 'Bench call ' || g, '2026-12-05T00:00:00.000000Z', 'bench-seed',
    'bench@example.com', 1, false,
    replace(replace(replace(replace(replace($t${template}$t$, '__ID__', lpad(to_hex(g), 8, '0') || '-0000-7000-8000-000000000000'),
        '__AGENT__', a.agent), '__END__', ({T0} + g + 60)::text), '__START__', ({T0} + g)::text), '__I__', g::text)::jsonb
FROM generate_series(0, {want - 1}) g,
     LATERAL (SELECT (ARRAY[{agent_list}])[1 + g % {len(agents)}] AS agent) a;
ANALYZE conversations;
"""
    subprocess.run(["psql", db_url, "-v", "ON_ERROR_STOP=1", "-q"], input=sql, text=True, check=True,
                   capture_output=True)


def cursor(i: int) -> str:
    """The exact cursor after bench conversation `i` (the server's own encoding)."""
    raw = f"kb1\nconversations\n{conversation_id(i)}\n{T0 + i}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def stored_conversations(cfg: Config) -> int:
    return env_int("BENCH_CONVERSATIONS", 20_000 if cfg.quick else 1_000_000)


def deep_lists(cfg: Config, server: Server, key: str, agents: list[str]) -> dict:
    """First page and the page at the deep end, with and without `agentId` (the first bench agent's
    conversations are those with even `i`)."""
    c = Client(server.port, key)
    paths = {
        "first": f"{API}/conversations",
        "deep": f"{API}/conversations?cursor={cursor(30)}",
        "agentFirst": f"{API}/conversations?agentId={agents[0]}",
        "agentDeep": f"{API}/conversations?agentId={agents[0]}&cursor={cursor(60)}",
    }
    stored = stored_conversations(cfg)
    out: dict = {"stored": stored}
    for name, path in paths.items():
        page = c.json("GET", path)
        if len(page["data"]) != 30:
            raise RuntimeError(f"{name} page has {len(page['data'])} items, not 30")
        out[name] = wrk(cfg, f"{server.name} conversations {name} page @{stored}", "list.lua",
                        server.port, {"BENCH_KEY": key, "BENCH_PATH": path}, pid=server.pid)
    c.close()
    return out


def combined(runs: list[dict]) -> dict:
    """Measurements of the same thing in turns as one: the rate over all of them, the worst of each
    percentile, the mean server CPU per request, the most disturbed share of the machine."""
    requests = sum(r["requests"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    out = dict(runs[0], label=runs[0]["label"].rsplit(" (", 1)[0], requests=requests,
               seconds=round(seconds, 2), rps=round(requests / seconds, 1), turns=len(runs))
    for k in ("p50Ms", "p90Ms", "p99Ms", "p999Ms", "maxMs", "foreignCpu", "stolenCpu"):
        out[k] = max(r[k] for r in runs)
    for k in ("non2xx", "socketErrors"):
        out[k] = sum(r[k] for r in runs)
    cpu = [r["serverCpuUsPerRequest"] * r["requests"] for r in runs if "serverCpuUsPerRequest" in r]
    if len(cpu) == len(runs):
        out["serverCpuUsPerRequest"] = round(sum(cpu) / requests, 1)
    return out


def runtime_config(cfg: Config, server: Server, key: str, agent: str) -> dict:
    c = Client(server.port, key)
    path = f"{API}/agents/{agent}/runtime-config"
    status, headers, body = c.request("GET", path)
    if status != 200:
        raise RuntimeError(f"runtime config answered {status}: {body[:300]!r}")
    etag = headers["etag"]
    status, _, _ = c.request("GET", path, None, {"if-none-match": etag})
    if status != 304:
        raise RuntimeError(f"If-None-Match answered {status}, not 304")
    c.close()
    env = {"BENCH_KEY": key, "BENCH_PATH": path}
    out = {"bytes": len(body)}
    # The 200 and the 304 paths are compared with each other: measured in four turns each, a quarter
    # of the time at a time, alternating which goes first, so that a drift of the machine (this VM's
    # spread from one run to the next is about 15 %) falls on both alike.
    seconds = max(2, cfg.seconds // 4)
    scripts = {"ok": ("get.lua", env, ""),
               "notModified": ("get_if.lua", {**env, "BENCH_IF_NONE_MATCH": etag}, ", 304")}
    runs: dict[str, list[dict]] = {"ok": [], "notModified": []}
    for turn in range(4):
        for which in (("ok", "notModified") if turn % 2 == 0 else ("notModified", "ok")):
            script, e, what = scripts[which]
            runs[which].append(wrk(cfg, f"{server.name} GET runtime config{what} ({turn + 1}/4)", script,
                                   server.port, e, seconds=seconds, pid=server.pid))
    out["ok"] = combined(runs["ok"])
    out["notModified"] = combined(runs["notModified"])
    out["nginx"] = nginx_baseline(cfg, {path: body}, [("nginx runtime config", "get.lua", env)])[
        "nginx runtime config"]
    return out


def change_delay(cfg: Config, server: Server, db_url: str, key: str, agent: str, rounds: int = 200) -> dict:
    """PostgreSQL: how long after another instance acknowledged a change this one answers with it
    (the notification's delay, the bound of a runtime configuration's staleness)."""
    other = Server(cfg, "postgres-calls-other", db_url)
    other.start()
    a, b = Client(server.port, key), Client(other.port, key)
    path = f"{API}/agents/{agent}/runtime-config"
    delays, polls = [], 0
    for n in range(rounds):
        a.json("GET", path)  # remembered
        name = f"Calls bench 0 round {n}"
        b.json("PATCH", f"{API}/agents/{agent}", json.dumps({"name": name}).encode())
        t = time.perf_counter()
        while True:
            polls += 1
            if a.json("GET", path)["data"]["name"] == name:
                break
            if time.perf_counter() - t > 10:
                raise RuntimeError("a change through another instance never showed")
        delays.append(time.perf_counter() - t)
    a.close()
    b.close()
    other.stop()
    out = {"rounds": rounds, "stalePolls": polls - rounds, **percentiles(delays)}
    log(f"  a change through another instance showed after p50 {out.get('p50Ms')} ms, p99 {out.get('p99Ms')} ms "
        f"({out['stalePolls']} stale answers in {rounds} rounds)")
    return out


def calls_bench(cfg: Config, backend: str, db_url: str, key: str, agent_body: bytes) -> dict:
    """Everything above on a server of its own over the backend's database."""
    server = Server(cfg, f"{backend}-calls", db_url)
    server.start()
    c = Client(server.port, key)
    agents = []
    for n in range(2):
        body = agent_body.replace(b"__NAME__", f"Calls bench {n}".encode())
        status, _, data = c.request("POST", f"{API}/agents", body)
        if status != 201:
            raise RuntimeError(f"creating the calls bench agent: {status} {data[:300]!r}")
        agents.append(json.loads(data)["data"]["agentId"])
    c.close()
    log(f"{backend}: calls")
    # Reads first: the ingestion burst leaves the database work to do afterwards (PostgreSQL's
    # autovacuum and checkpoints) that would fall on whatever is measured next.
    out: dict = {"runtimeConfig": runtime_config(cfg, server, key, agents[0])}
    if backend == "postgres":
        out["changeDelay"] = change_delay(cfg, server, db_url, key, agents[0])
    out["ingestion"] = ingestion(cfg, server.port, key, agents[1], backend)
    server.stop()
    want = stored_conversations(cfg)
    log(f"{backend}: storing {want} conversations straight in the database")
    t = time.perf_counter()
    if backend == "sqlite":
        seed_sqlite(db_url.removeprefix("sqlite://"), agents, want)
    else:
        seed_postgres(db_url, agents, want)
    out["seedSeconds"] = round(time.perf_counter() - t, 1)
    server.start()
    out["list"] = deep_lists(cfg, server, key, agents)
    server.stop()
    return out
