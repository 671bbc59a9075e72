"""Webhook benchmarks (issue #23), run by bench.py in the same run as the rest:

- PATCH throughput with an endpoint subscribed to agent.updated (every PATCH a delivery) beside the
  same PATCHes with no endpoint, in alternating turns after a warm-up pair; target: within 10 %. The
  server runs with its defaults (deliveries at `--webhook-priority low`: they wait for a lull in the
  API's requests, or `--webhook-max-lag`); the row also charges a turn with the endpoint with the
  time its pending deliveries take to drain after its load (`patch_turns`);
- deliveries per second: BENCH_DELIVERIES (20 000) pending deliveries stored straight in the database,
  drained by a server that starts on them, to nginx answering 204 at once; beside wrk POSTing the
  same body to that nginx (the receiver's own ceiling);
- commit to first attempt: sequential PATCHes, each answer's time against the moment a local
  receiver gets its delivery; p50 and p99, target p99 under 1 s.

Every measurement runs on a database of its own, with agents that name no webhook: the other
benchmarks' servers record their deliveries (the bench agent's postCallWebhook is a loopback URL)
and send none (`--webhook-deliver false`). The receiver (nginx) runs at the idle CPU priority
(`chrt --idle`): it stands for a machine of its own, and on this one it would otherwise take its CPU
from the server and the load generator, a cost no real deployment pays on the server's machine.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from baselines import pg_fresh_db
from harness import API, Client, Config, Server, env_int, free_port, log, run, track, wait_idle, wrk
from knowledge import percentiles

AGENTS = 100


def nginx_204(cfg: Config) -> tuple[int, subprocess.Popen]:
    """nginx answering 204 to any request at once: the fastest receiver there is."""
    root = cfg.tmp / "nginx-webhooks"
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = root / "nginx.conf"
    conf.write_text(f"""{user}worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_timeout 120s;
  keepalive_requests 100000000;
  client_body_temp_path {root}/tmp-body;
  proxy_temp_path {root}/tmp-proxy;
  fastcgi_temp_path {root}/tmp-fastcgi;
  uwsgi_temp_path {root}/tmp-uwsgi;
  scgi_temp_path {root}/tmp-scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 204; }}
  }}
}}
""")
    proc = track(subprocess.Popen(["chrt", "--idle", "0", "nginx", "-p", str(root), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=open(root / "stderr.log", "w")))
    for _ in range(5000):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port, proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("nginx exited: " + (root / "stderr.log").read_text())
            time.sleep(0.01)
    raise RuntimeError("nginx did not start")


class Arrivals:
    """A local receiver that notes when each agent.updated delivery arrives, by agent version."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.lock = threading.Lock()
        arrivals = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                at = time.perf_counter()
                version = json.loads(body)["data"].get("version")
                with arrivals.lock:
                    arrivals.seen.setdefault(version, at)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{") and line.split(" ")[0] == name:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def endpoint(c: Client, url: str, types: list[str]) -> str:
    data = c.json("POST", f"{API}/webhook-endpoints", json.dumps({"url": url, "eventTypes": types}).encode(),
                  expect=201)
    return data["data"]["endpointId"]


def drain_pending(server: Server, key: str) -> float:
    """Seconds until the workspace of `key` has no pending delivery (polled every 10 ms)."""
    c = Client(server.port, key)
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < 300:
            if not c.json("GET", f"{API}/webhook-deliveries?status=pending&pageSize=1")["data"]:
                break
            time.sleep(0.01)
    finally:
        c.close()
    return round(time.perf_counter() - t0, 3)


def patch_turns(cfg: Config, server: Server, plain: tuple[str, str], hooked: tuple[str, str],
                receiver_port: int) -> dict:
    """PATCH with and without a subscribed endpoint, in four alternating turns after a warm-up pair:
    `plain` (key, file of agent ids) is a workspace with no endpoint, `hooked` one whose endpoint
    takes every agent.updated.

    Once a turn with the endpoint stops, the deliveries it left pending are drained before the next
    turn starts, so no turn makes another's deliveries: before, a backlog left by a turn with the
    endpoint was delivered during the next turn without one, and slowed it. `rps` is PATCHes a
    second during the loads (the target's figure); `sustainedRps` adds the drains' seconds to the
    turns', the rate at which the server both takes PATCHes and makes every delivery they cause.
    The warm-up pair (one turn of each, not counted) is there because the first turn on fresh tables
    is the fastest of all: counted, it always favoured the turn that came first."""
    c = Client(server.port, hooked[0])
    endpoint(c, f"http://127.0.0.1:{receiver_port}/hook", ["agent.updated"])
    c.close()
    seconds = max(2, cfg.seconds // 2)
    name = 'dialplane_webhook_attempts_total{result="succeeded"}'

    def turn(which: str, label: str) -> dict:
        key, ids_file = hooked if which == "with" else plain
        env = {"BENCH_KEY": key, "BENCH_IDS": ids_file, "BENCH_ACK_FILE": ""}
        before = metric(server.metrics_port, name)
        r = wrk(cfg, f"{server.name} PATCH {which} a subscribed endpoint ({label})", "patch.lua",
                server.port, env, seconds=seconds, pid=server.pid)
        if which == "with":
            r["deliveredDuringLoad"] = metric(server.metrics_port, name) - before
            r["drainSeconds"] = drain_pending(server, hooked[0])
            r["delivered"] = metric(server.metrics_port, name) - before
        return r

    for which in ("without", "with"):
        turn(which, "warm-up")
    runs: dict[str, list[dict]] = {"without": [], "with": []}
    for n in range(4):
        for which in (("without", "with") if n % 2 == 0 else ("with", "without")):
            runs[which].append(turn(which, f"{n + 1}/4"))

    def combined(rs: list[dict]) -> dict:
        requests = sum(r["rps"] * r.get("seconds", seconds) for r in rs)
        loaded = sum(r.get("seconds", seconds) for r in rs)
        out = {"rps": round(requests / loaded, 1),
               "sustainedRps": round(requests / (loaded + sum(r.get("drainSeconds", 0) for r in rs)), 1),
               "p99Ms": max(r["p99Ms"] for r in rs), "foreignCpu": max(r["foreignCpu"] for r in rs),
               "non2xx": sum(r["non2xx"] for r in rs), "turns": [r["rps"] for r in rs]}
        cpu = [r["serverCpuUsPerRequest"] * r["requests"] for r in rs if "serverCpuUsPerRequest" in r]
        measured = sum(r["requests"] for r in rs if "serverCpuUsPerRequest" in r)
        if cpu and measured:
            out["serverCpuUsPerRequest"] = round(sum(cpu) / measured, 1)
        return out
    hooked_runs = runs["with"]
    out = {"without": combined(runs["without"]), "with": combined(hooked_runs),
           "deliveredDuringLoad": sum(r["deliveredDuringLoad"] for r in hooked_runs),
           "delivered": sum(r["delivered"] for r in hooked_runs),
           "drainSeconds": [r["drainSeconds"] for r in hooked_runs]}
    out["pendingAtStop"] = out["delivered"] - out["deliveredDuringLoad"]
    log(f"  PATCH without an endpoint {out['without']['rps']}/s, with one {out['with']['rps']}/s "
        f"({out['with']['sustainedRps']}/s with the drains of {out['drainSeconds']} s)")
    return out


def seed_sqlite(db_path: str, workspace: str, endpoint_id: str, url: str, n: int, now_ms: int) -> None:
    con = sqlite3.connect(db_path)
    with con:
        for lo in range(0, n, 10_000):
            events, deliveries = [], []
            for i in range(lo, min(n, lo + 10_000)):
                ev, dl = ids(i)
                events.append((ev, workspace, "agent.updated", None, now_ms, payload(i)))
                deliveries.append((dl, workspace, ev, "agent.updated", endpoint_id, None, url, "pending", 0, 8,
                                   now_ms, None, None, now_ms, None, None, None, None))
            con.executemany("INSERT INTO webhook_events VALUES (?, ?, ?, ?, ?, ?)", events)
            con.executemany("INSERT INTO webhook_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            deliveries)
    con.close()


def seed_postgres(db_url: str, workspace: str, endpoint_id: str, url: str, n: int, now_ms: int) -> None:
    body = payload(0).replace("'", "''")
    sql = f"""
INSERT INTO webhook_events (event_id, workspace, event_type, conversation_id, created_at, payload)
SELECT lpad(to_hex(g), 8, '0') || '-0000-7000-8000-00000000e000', '{workspace}', 'agent.updated', NULL,
       {now_ms}, '{body}' FROM generate_series(0, {n - 1}) g;
INSERT INTO webhook_deliveries (delivery_id, workspace, event_id, event_type, endpoint_id, agent_id, url, status,
    attempts, max_attempts, next_attempt_at, created_at)
SELECT lpad(to_hex(g), 8, '0') || '-0000-7000-8000-00000000d000', '{workspace}',
       lpad(to_hex(g), 8, '0') || '-0000-7000-8000-00000000e000', 'agent.updated', '{endpoint_id}', NULL,
       '{url}', 'pending', 0, 8, {now_ms}, {now_ms} FROM generate_series(0, {n - 1}) g;
ANALYZE webhook_deliveries;
"""
    subprocess.run(["psql", db_url, "-v", "ON_ERROR_STOP=1", "-q"], input=sql, text=True, check=True,
                   capture_output=True)


def ids(i: int) -> tuple[str, str]:
    return f"{i:08x}-0000-7000-8000-00000000e000", f"{i:08x}-0000-7000-8000-00000000d000"


def payload(i: int) -> str:
    return json.dumps({"type": "agent.updated", "timestamp": "2026-12-05T10:00:00.000Z",
                       "data": {"agentId": "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b", "version": i + 2,
                                "changedPaths": ["/conversationConfig/agent/prompt/temperature"]}},
                      separators=(",", ":"))


def drain(cfg: Config, backend: str, server: Server, db_url: str, key: str, receiver_port: int) -> dict:
    """Deliveries a second: BENCH_DELIVERIES stored pending, drained by a server starting on them."""
    n = env_int("BENCH_DELIVERIES", 2_000 if cfg.quick else 20_000)
    c = Client(server.port, key)
    url = f"http://127.0.0.1:{receiver_port}/drain"
    hook = endpoint(c, url, ["endpoint.disabled"])  # subscribed to nothing the run emits
    workspace = "bench"  # the bench key's (bench.py)
    c.close()
    server.stop()
    now_ms = int(time.time() * 1000)
    log(f"{backend}: storing {n} pending deliveries straight in the database")
    if backend == "sqlite":
        seed_sqlite(db_url.removeprefix("sqlite://"), workspace, hook, url, n, now_ms)
    else:
        seed_postgres(db_url, workspace, hook, url, n, now_ms)
    wait_idle(cfg, "webhook drain")
    started = time.perf_counter()
    server.start()
    name = 'dialplane_webhook_attempts_total{result="succeeded"}'
    while True:
        done = metric(server.metrics_port, name)
        if done >= n:
            break
        if time.perf_counter() - started > 600:
            raise RuntimeError(f"only {done} of {n} deliveries drained in 10 minutes")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    out = {"deliveries": n, "seconds": round(elapsed, 2), "perSecond": round(n / elapsed, 1)}
    log(f"  drained {n} deliveries in {out['seconds']} s: {out['perSecond']} a second (server start included)")
    return out


def first_attempt(cfg: Config, server: Server, key: str, agent: str, rounds: int) -> dict:
    """Sequential PATCHes: from each answer to the arrival of its delivery at a local receiver."""
    arrivals = Arrivals()
    c = Client(server.port, key)
    hook = endpoint(c, f"http://127.0.0.1:{arrivals.port}/", ["agent.updated"])
    acked: dict[int, float] = {}
    for n in range(rounds):
        status, headers, _ = c.request("PATCH", f"{API}/agents/{agent}",
                                       json.dumps({"tags": [f"round-{n}"]}).encode())
        at = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"PATCH answered {status}")
        acked[int(headers["etag"].strip('"'))] = at
        time.sleep(0.01)
    deadline = time.perf_counter() + 30
    while len(arrivals.seen) < rounds and time.perf_counter() < deadline:
        time.sleep(0.05)
    delays = [max(0.0, arrivals.seen[v] - t) for v, t in acked.items() if v in arrivals.seen]
    c.request("DELETE", f"{API}/webhook-endpoints/{hook}")
    c.close()
    arrivals.close()
    out = {"rounds": rounds, "arrived": len(delays), **percentiles(delays)}
    log(f"  commit to first attempt: p50 {out.get('p50Ms')} ms, p99 {out.get('p99Ms')} ms "
        f"({out['arrived']} of {rounds} arrived)")
    return out


def direct_posts(cfg: Config, receiver_port: int) -> dict:
    """wrk POSTing a delivery's body straight to the receiver: what it can take at all."""
    body = cfg.tmp / "webhook-body.json"
    body.write_text(payload(0))
    return wrk(cfg, "wrk POST to the nginx receiver", "post.lua", receiver_port,
               {"BENCH_BODY": str(body), "BENCH_PATH": "/hook"})


def fresh_database(cfg: Config, backend: str) -> tuple[str, str, str]:
    """A database of its own (no deliveries left by the other benchmarks), a key of workspace
    `bench` and one of workspace `bench-hooks`."""
    if backend == "sqlite":
        path = cfg.tmp / "webhooks" / "dialplane.db"
        shutil.rmtree(path.parent, ignore_errors=True)  # a run's database of its own, even in a kept BENCH_TMP
        path.parent.mkdir(parents=True)
        db_url = f"sqlite://{path}"
    else:
        pg_fresh_db(cfg, cfg.pg_db + "_webhooks")
        db_url = f"{cfg.pg_url}/{cfg.pg_db}_webhooks"
    run([cfg.binary, "migrate", "--database", db_url])
    keys = [json.loads(run([cfg.binary, "keys", "create", "--database", db_url, "--workspace", workspace,
                            "--user-id", "bench", "--user-email", "bench@example.com", "--json"]).stdout)["key"]
            for workspace in ("bench", "bench-hooks")]
    return db_url, keys[0], keys[1]


def webhooks_bench(cfg: Config, backend: str) -> dict:
    db_url, key, hooks_key = fresh_database(cfg, backend)
    receiver_port, nginx = nginx_204(cfg)
    server = Server(cfg, f"{backend}-webhooks", db_url,
                    extra=["--webhook-deliver", "true", "--allow-private-urls",
                           "--webhook-target-concurrency", "256"])
    server.start()
    try:
        ids_files = []
        for workspace_key, label in ((key, "plain"), (hooks_key, "hooked")):
            c = Client(server.port, workspace_key)
            agents = []
            for n in range(AGENTS):
                body = json.dumps({"name": f"Webhooks bench {n}",
                                   "conversationConfig": {"agent": {"prompt": {"prompt": "You answer calls."}}}}).encode()
                status, _, data = c.request("POST", f"{API}/agents", body)
                if status != 201:
                    raise RuntimeError(f"creating a webhooks bench agent: {status} {data[:300]!r}")
                agents.append(json.loads(data)["data"]["agentId"])
            c.close()
            ids_file = cfg.tmp / f"{backend}-webhook-ids-{label}.txt"
            ids_file.write_text("\n".join(agents) + "\n")
            ids_files.append(str(ids_file))
        log(f"{backend}: webhooks")
        first_agent = Path(ids_files[0]).read_text().split()[0]
        out: dict = {"firstAttempt": first_attempt(cfg, server, key, first_agent, 100 if cfg.quick else 300)}
        out["patch"] = patch_turns(cfg, server, (key, ids_files[0]), (hooks_key, ids_files[1]), receiver_port)
        out["direct"] = direct_posts(cfg, receiver_port)
        out["drain"] = drain(cfg, backend, server, db_url, key, receiver_port)
        return out
    finally:
        server.stop()
        nginx.terminate()
        nginx.wait()
