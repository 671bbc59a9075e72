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
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
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
REPO = BENCH_DIR.parent
WRK_DIR = BENCH_DIR / "wrk"
sys.path.insert(0, str(BENCH_DIR))

import agent_body  # noqa: E402
import render  # noqa: E402
import sqlite_naive  # noqa: E402

API = "/api/public/v1"


# ---------------------------------------------------------------------------------------------- config

def env_int(name: str, default: int) -> int:
    v = os.environ.get(name, "").strip()
    return int(v) if v else default


class Config:
    def __init__(self) -> None:
        self.quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
        self.seconds = env_int("BENCH_SECONDS", 3 if self.quick else 20)
        self.connections = env_int("BENCH_CONNECTIONS", 32)
        self.threads = env_int("BENCH_THREADS", 2)
        self.agents = env_int("BENCH_AGENTS", 1000)
        self.deep = env_int("BENCH_DEEP", 5000 if self.quick else 100_000)
        self.cold_starts = env_int("BENCH_COLD_STARTS", 3)
        self.idle_wait = env_int("BENCH_IDLE_WAIT", 30 if self.quick else 900)
        self.warmup = env_int("BENCH_WARMUP", 1 if self.quick else 2)
        self.retries = env_int("BENCH_RETRIES", 0 if self.quick else 2)
        self.seed_workers = env_int("BENCH_SEED_WORKERS", 8)
        self.backends = os.environ.get("BENCH_BACKENDS", "sqlite postgres").split()
        self.binary = os.environ.get("BENCH_BIN") or str(REPO / "target" / "release" / "dialplane")
        self.pg_url = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
        self.pg_db = os.environ.get("BENCH_PG_DB", "dialplane_bench")
        self.pgbench_db = self.pg_db + "_pgbench"
        self.pgbench_scale = env_int("BENCH_PGBENCH_SCALE", 10)
        self.out = Path(os.environ.get("BENCH_OUT", str(REPO / "docs" / "BENCHMARKS.md")))
        self.results_dir = Path(os.environ.get("BENCH_RESULTS", str(BENCH_DIR / "results")))
        self.tmp = Path(os.environ.get("BENCH_TMP") or "")
        self.command = os.environ.get("BENCH_COMMAND", "bench/run")
        for b in self.backends:
            if b not in ("sqlite", "postgres"):
                sys.exit(f"bench: unknown backend {b!r} in BENCH_BACKENDS (sqlite, postgres)")
        if self.connections < self.threads:
            sys.exit("bench: BENCH_CONNECTIONS must be at least BENCH_THREADS")

    def as_dict(self) -> dict:
        return {
            "quick": self.quick, "seconds": self.seconds, "connections": self.connections,
            "threads": self.threads, "agents": self.agents, "deep": self.deep,
            "coldStarts": self.cold_starts, "warmupSeconds": self.warmup, "backends": self.backends,
            "pgbenchScale": self.pgbench_scale, "seedWorkers": self.seed_workers,
            "idleWaitSeconds": self.idle_wait, "retries": self.retries,
        }


T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[bench {time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------- processes

CHILDREN: list[subprocess.Popen] = []


def track(proc: subprocess.Popen) -> subprocess.Popen:
    CHILDREN.append(proc)
    pidfile = os.environ.get("BENCH_PIDFILE")
    if pidfile:
        with open(pidfile, "a") as f:
            f.write(f"{proc.pid}\n")
    return proc


def cleanup() -> None:
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=10)
            except Exception:
                pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


# ---------------------------------------------------------------------------------------------- http

class Client:
    """A keep-alive HTTP/1.1 client for one thread."""

    def __init__(self, port: int, key: str | None = None) -> None:
        self.port = port
        self.key = key
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        h = {"x-api-key": self.key} if self.key else {}
        if body is not None:
            h["content-type"] = "application/json"
        h.update(headers or {})
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body: bytes | None = None, expect: int = 200) -> dict:
        status, _, data = self.request(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path}: expected {expect}, got {status}: {data[:500]!r}")
        return json.loads(data)

    def close(self) -> None:
        if self.conn:
            self.conn.close()


def readyz_once(port: int) -> int | None:
    """One GET /readyz on a fresh connection; the status, or None if nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
            m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
            return int(m.group(1)) if m else None
    except OSError:
        return None


# -------------------------------------------------------------------------------------------- server

class Server:
    def __init__(self, cfg: Config, name: str, db_url: str) -> None:
        self.cfg = cfg
        self.name = name
        self.db_url = db_url
        self.port = free_port()
        self.metrics_port = free_port()
        while self.metrics_port == self.port:
            self.metrics_port = free_port()
        self.log_path = cfg.tmp / f"{name}-server.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def args(self) -> list[str]:
        return [self.cfg.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--database", self.db_url,
                "--metrics-listen", f"127.0.0.1:{self.metrics_port}", "--rate-limit-per-minute", "0",
                "--log-format", "text"]

    def start(self, timeout: float = 120.0) -> float:
        """Spawn the server and poll /readyz every millisecond; milliseconds from spawn to the first 200."""
        logf = open(self.log_path, "a")
        self.starts += 1
        logf.write(f"\n===== start {self.starts} =====\n")
        logf.flush()
        t0 = time.perf_counter()
        self.proc = track(subprocess.Popen(self.args(), stdout=logf, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL))
        logf.close()
        deadline = t0 + timeout
        while True:
            status = readyz_once(self.port)
            if status == 200:
                return (time.perf_counter() - t0) * 1000
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {self.proc.returncode}; log:\n"
                                   + self.log_tail())
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.name} server not ready after {timeout}s; log:\n" + self.log_tail())
            time.sleep(0.001)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 120.0) -> float:
        """Signal the server and wait for it to exit; the seconds that took."""
        assert self.proc is not None
        t0 = time.perf_counter()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
        return time.perf_counter() - t0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, n: int = 30) -> str:
        try:
            return "".join(self.log_path.read_text(errors="replace").splitlines(True)[-n:])
        except OSError:
            return ""

    def count_log(self, patterns: dict[str, str]) -> dict[str, int]:
        """How many lines of the server log match each regex, colour codes removed."""
        ansi = re.compile(r"\x1b\[[0-9;]*m")
        rxs = {k: re.compile(p) for k, p in patterns.items()}
        counts: dict = dict.fromkeys(patterns, 0)
        kinds: dict[str, int] = {}
        try:
            for line in open(self.log_path, errors="replace"):
                if not any(w in line for w in ("ERROR", "WARN", "panick", "status\x1b[0m\x1b[2m=\x1b[0m5", "status=5")):
                    continue
                line = ansi.sub("", line)
                for k, rx in rxs.items():
                    if rx.search(line):
                        counts[k] += 1
                m = re.match(r"\S+\s+(WARN|ERROR)\s+(?:.*?\}: )?(\S+: [^=]*?)(?: \w+=|$)", line.rstrip())
                if m:
                    kind = f"{m.group(1)} {m.group(2)[:100]}"
                    kinds[kind] = kinds.get(kind, 0) + 1
        except OSError:
            pass
        counts["logKinds"] = dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:8])
        return counts


class RssSampler:
    """Samples VmRSS of a process every `interval` seconds while running."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.max_kib = 0
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def read(pid: int) -> dict:
        out = {}
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
        except OSError:
            pass
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.read(self.pid).get("VmRSS")
            if rss:
                self.samples.append(rss)
                self.max_kib = max(self.max_kib, rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()

    def summary(self) -> dict:
        return {"maxRssMiB": round(self.max_kib / 1024, 1),
                "medianRssMiB": round(statistics.median(self.samples) / 1024, 1) if self.samples else None,
                "samples": len(self.samples)}


# ------------------------------------------------------------------------------------- CPU accounting
#
# The machine may be shared (builds, other jobs). Before each measurement the suite waits until the
# machine is idle, and during it, it measures how much CPU went to processes that are not part of the
# benchmark (neither this script and its children, nor PostgreSQL), reported as "foreign CPU".

HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def machine_busy() -> tuple[int, int, int]:
    """(busy, total, stolen) jiffies of all CPUs since boot; busy is user, nice and system time, the
    time that processes are charged with; stolen is the time the hypervisor gave this VM's CPUs to
    other guests while it had work for them."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return v[0] + v[1] + v[2], sum(v), v[7]


def processes() -> dict[int, tuple[int, str, int, int]]:
    """pid -> (ppid, comm, CPU jiffies, start time) of every process. The CPU time includes that of its
    children it has reaped, so a child that ran and exited between two snapshots is still counted."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or (stat := proc_stat(int(d))) is None:
            continue
        comm, f = stat
        out[int(d)] = (int(f[1]), comm, int(f[11]) + int(f[12]) + int(f[13]) + int(f[14]), int(f[19]))
    return out


def proc_stat(pid: int) -> tuple[str, list[str]] | None:
    """The command name and the fields after it of `/proc/<pid>/stat` (field 3 of proc(5) first), or
    None if there is no such process."""
    try:
        raw = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    return raw[raw.index("(") + 1:raw.rindex(")")], raw[raw.rindex(")") + 2:].split()


def ours(procs: dict[int, tuple[int, str, int, int]]) -> set[int]:
    """This script, its descendants, PostgreSQL's processes and kernel threads (mostly doing the
    benchmark's I/O)."""
    me = os.getpid()
    keep = {pid for pid, (ppid, comm, _, _) in procs.items()
            if comm == "postgres" or pid == me or ppid == 2 or pid == 2}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _, _, _) in procs.items():
            if pid not in keep and ppid in keep and ppid != 1:
                keep.add(pid)
                changed = True
    return keep


class Foreign:
    """Measures the share of the machine's CPU used by foreign processes, or stolen by the hypervisor,
    between enter and exit (`stolen`: the hypervisor's part alone)."""

    def __enter__(self) -> "Foreign":
        self.b0 = machine_busy()
        self.p0 = processes()
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        b1, p1 = machine_busy(), processes()
        busy = b1[0] - self.b0[0]
        mine = 0
        for pid in ours(p1) | ours(self.p0):
            now, before = p1.get(pid), self.p0.get(pid)
            if before and now and before[3] != now[3]:
                before = None  # the pid was reused
            # A process that exited was reaped by its parent (one of ours), whose jiffies now hold its
            # whole life: take off what it had at the start.
            mine += (now[2] if now else 0) - (before[2] if before else 0)
        elapsed = time.monotonic() - self.t0
        capacity = elapsed * HZ * NCPU
        stolen = b1[2] - self.b0[2]
        self.stolen = stolen / capacity if elapsed > 0 else 0.0
        # Process CPU times can include time the hypervisor took (ticks are charged to whoever ran),
        # so the processes' share is floored at zero on its own and steal always counts.
        self.share = (max(0.0, busy - mine) + stolen) / capacity if elapsed > 0 else 0.0


def wait_idle(cfg: Config, what: str) -> float:
    """Flush what earlier steps left for the disk to write (seeding 100 000 agents leaves hundreds of
    megabytes that the kernel would otherwise write back during the next measurement, holding up its
    fsyncs), then wait (up to BENCH_IDLE_WAIT seconds) until processes outside the benchmark use under
    10% of the machine over a second. Returns the share seen last."""
    t = time.monotonic()
    os.sync()
    if time.monotonic() - t > 1:
        log(f"  flushing dirty pages before {what} took {time.monotonic() - t:.1f}s")
    deadline = time.monotonic() + cfg.idle_wait
    warned = False
    while True:
        with Foreign() as f:
            time.sleep(1)
        if f.share < 0.1 or time.monotonic() > deadline:
            if f.share >= 0.1:
                log(f"  other processes still use {f.share:.0%} of the machine; measuring {what} anyway")
            elif warned:
                log("  the machine is idle")
            return f.share
        if not warned:
            log(f"  other processes use {f.share:.0%} of the machine; waiting (up to {cfg.idle_wait}s) "
                f"for them to finish before {what}")
            warned = True


# ----------------------------------------------------------------------------------------------- wrk

def wrk(cfg: Config, label: str, script: str, port: int, env: dict, seconds: int | None = None,
        idle_check: bool = True, warmup: bool = True, retries: int | None = None,
        pid: int | None = None, metrics_port: int | None = None) -> dict:
    """One measurement with wrk. When other processes took more than 10% of the CPUs meanwhile, it is
    repeated (up to BENCH_RETRIES times) and the least disturbed attempt is kept; errors of every attempt
    are counted."""
    retries = cfg.retries if retries is None else retries
    attempts: list[dict] = []
    ack = env.get("BENCH_ACK_FILE")
    for k in range(retries + 1):
        e = dict(env)
        if ack and k:
            e["BENCH_ACK_FILE"] = f"{ack}.{k}"
        res = _wrk_once(cfg, label + (f" (attempt {k + 1})" if k else ""), script, port, e, seconds,
                        idle_check, warmup, pid, metrics_port)
        if ack:
            res["ackFile"] = str(e["BENCH_ACK_FILE"])
        attempts.append(res)
        if res["foreignCpu"] <= 0.10:
            break
    best = min(attempts, key=lambda a: a["foreignCpu"])
    best = dict(best, label=label, attempts=len(attempts),
                non2xxAllAttempts=sum(a["non2xx"] for a in attempts),
                socketErrorsAllAttempts=sum(a["socketErrors"] for a in attempts),
                ok2xxAllAttempts=sum(a.get("ok2xx", 0) for a in attempts))
    if ack:
        best["ackFiles"] = [a["ackFile"] for a in attempts]
    if len(attempts) > 1:
        best["discarded"] = [{k: a[k] for k in ("rps", "p50Ms", "p99Ms", "foreignCpu")}
                             for a in attempts if a is not min(attempts, key=lambda a: a["foreignCpu"])]
    return best


def write_batching(metrics_port: int | None) -> tuple[float, float] | None:
    """(writes, commits) of the SQLite writer from the server's metrics, if it reports them."""
    if metrics_port is None:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("dialplane_sqlite_writes_total", "dialplane_sqlite_commits_total"):
            values[name] = float(value)
    if len(values) != 2:
        return None
    return values["dialplane_sqlite_writes_total"], values["dialplane_sqlite_commits_total"]


def process_cpu(pid: int | None) -> float | None:
    """Seconds of CPU that process `pid` has used (all its threads), if it runs."""
    stat = proc_stat(pid) if pid is not None else None
    if stat is None:
        return None
    f = stat[1]
    return (int(f[11]) + int(f[12])) / HZ


def _wrk_once(cfg: Config, label: str, script: str, port: int, env: dict, seconds: int | None,
              idle_check: bool, warmup: bool, pid: int | None = None,
              metrics_port: int | None = None) -> dict:
    seconds = seconds or cfg.seconds
    cmd = ["wrk", "-t", str(cfg.threads), "-c", str(cfg.connections), "-d", f"{seconds}s",
           "--timeout", "10s", "-s", str(WRK_DIR / script), f"http://127.0.0.1:{port}/"]
    e = dict(os.environ, BENCH_WRK_DIR=str(WRK_DIR), **{k: str(v) for k, v in env.items()})
    busy_before = wait_idle(cfg, label) if idle_check else None
    if warmup and cfg.warmup:
        # Unrecorded: lets connections open, caches fill and the allocator settle.
        subprocess.run(cmd[:6] + [f"{cfg.warmup}s"] + cmd[7:], env=dict(e, BENCH_ACK_FILE=""),
                       capture_output=True)
    log(f"wrk {label}: {seconds}s, {cfg.connections} connections, {cfg.threads} threads")
    cpu0, batching0 = process_cpu(pid), write_batching(metrics_port)
    with Foreign() as foreign:
        p = subprocess.run(cmd, env=e, text=True, capture_output=True)
    cpu1, batching1 = process_cpu(pid), write_batching(metrics_port)
    with open(cfg.tmp / "wrk.log", "a") as f:
        f.write(f"===== {label}\n$ {' '.join(cmd)}\n{p.stdout}{p.stderr}\n")
    if p.returncode != 0:
        raise RuntimeError(f"wrk {label} failed ({p.returncode}): {p.stderr or p.stdout}")
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk {label}: no BENCH_JSON line in output:\n{p.stdout}\n{p.stderr}")
    r = json.loads(line[len("BENCH_JSON "):])
    secs = r["duration_us"] / 1e6
    errors = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
    res = {
        "label": label,
        "rps": round(r["requests"] / secs, 1),
        "p50Ms": round(r["p50_us"] / 1000, 3),
        "p90Ms": round(r["p90_us"] / 1000, 3),
        "p99Ms": round(r["p99_us"] / 1000, 3),
        "p999Ms": round(r["p999_us"] / 1000, 3),
        "meanMs": round(r["mean_us"] / 1000, 3),
        "maxMs": round(r["max_us"] / 1000, 3),
        "requests": r["requests"],
        "seconds": round(secs, 2),
        "non2xx": r["err_status"],
        "socketErrors": errors,
        "errorDetail": {k: r[k] for k in ("err_connect", "err_read", "err_write", "err_timeout")},
        "bytesPerResponse": round(r["bytes"] / r["requests"]) if r["requests"] else 0,
        "foreignCpu": round(foreign.share, 3),
        "stolenCpu": round(foreign.stolen, 3),
        "busyBefore": round(busy_before, 3) if busy_before is not None else None,
    }
    if cpu0 is not None and cpu1 is not None and r["requests"]:
        # The server's own CPU time per request: steadier than requests per second on a shared VM.
        res["serverCpuUsPerRequest"] = round((cpu1 - cpu0) * 1e6 / r["requests"], 1)
    if batching0 and batching1 and batching1[1] > batching0[1]:
        # Group commit as the server counted it: writes per commit (one WAL sync each).
        writes, commits = batching1[0] - batching0[0], batching1[1] - batching0[1]
        res["writesPerCommit"] = round(writes / commits, 2)
        res["commitsPerSecond"] = round(commits / secs, 1)
    if "ok" in r:
        res["ok2xx"] = r["ok"]
    log(f"  {label}: {res['rps']:.0f} req/s, p50 {res['p50Ms']} ms, p99 {res['p99Ms']} ms, "
        f"non-2xx {res['non2xx']}, socket errors {errors}, foreign CPU {foreign.share:.0%} "
        f"(stolen {foreign.stolen:.0%})")
    return res


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


# ----------------------------------------------------------------------------------------- baselines

def nginx_baseline(cfg: Config, files: dict[str, bytes], runs: list[tuple[str, str, dict]],
                   patch_answer: bool = False) -> dict:
    """Serve `files` (URL path -> bytes) with nginx as static files; run each (label, script, env). With
    `patch_answer`, a PATCH to any path is answered with the first file."""
    root = cfg.tmp / "nginx"
    www = root / "www"
    www.mkdir(parents=True, exist_ok=True)
    exact = []
    for i, (path, data) in enumerate(files.items()):
        if "?" in path or path.endswith("/agents"):
            name = f"exact-{i}.json"
            (www / name).write_bytes(data)
            exact.append(f"    location = {path.split('?')[0]} {{ try_files /{name} =404; }}\n")
        else:
            f = www / path.lstrip("/")
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    # nginx's static files refuse a PATCH (405); this answers it with the first file's bytes instead,
    # after reading the request: the HTTP floor of a PATCH exchange, with no work and no storage.
    patch = f"    error_page 405 =200 {next(iter(files))};\n" if patch_answer else ""
    conf = root / "nginx.conf"
    conf.write_text(f"""{user}worker_processes auto;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 120s;
  keepalive_requests 100000000;
  default_type application/json;
  client_body_temp_path {root}/tmp-body;
  proxy_temp_path {root}/tmp-proxy;
  fastcgi_temp_path {root}/tmp-fastcgi;
  uwsgi_temp_path {root}/tmp-uwsgi;
  scgi_temp_path {root}/tmp-scgi;
  server {{
    listen 127.0.0.1:{port};
    root {www};
{patch}{''.join(exact)}  }}
}}
""")
    proc = track(subprocess.Popen(["nginx", "-p", str(root), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=open(root / "stderr.log", "w")))
    try:
        for _ in range(5000):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("nginx exited: " + (root / "stderr.log").read_text())
                time.sleep(0.01)
        c = Client(port)
        for path, data in files.items():
            status, _, got = c.request("GET", path)
            if status != 200 or got != data:
                raise RuntimeError(f"nginx serves {path} wrong: {status}, {len(got)} bytes, expected {len(data)}")
        if patch_answer:
            path, data = next(iter(files.items()))
            status, _, got = c.request("PATCH", path, b'{"name": "x"}')
            if status != 200 or got != data:
                raise RuntimeError(f"nginx answers a PATCH wrong: {status}, {len(got)} bytes, expected {len(data)}")
        c.close()
        return {label: wrk(cfg, label, script, port, env) for label, script, env in runs}
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pg_admin(cfg: Config, sql: str) -> None:
    run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", f"{cfg.pg_url}/postgres", "-c", sql])


def pg_fresh_db(cfg: Config, name: str) -> None:
    pg_admin(cfg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(cfg, f'CREATE DATABASE "{name}"')


def pg_settings(cfg: Config) -> dict:
    names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method", "commit_delay",
             "shared_buffers", "max_connections", "full_page_writes")
    p = run(["psql", "-X", "-At", f"{cfg.pg_url}/postgres", "-c",
             "select name, setting, coalesce(unit, '') from pg_settings where name in ("
             + ",".join(f"'{n}'" for n in names) + ")"])
    out = {}
    for line in p.stdout.splitlines():
        n, v, u = line.split("|")
        out[n] = f"{v}{(' x ' + u) if u else ''}"
    return out


def _pgbench_once(cfg: Config, pgbench: str, url: str, logdir: Path) -> dict:
    logdir.mkdir(exist_ok=True)
    wait_idle(cfg, "pgbench")
    log(f"pgbench -N: {cfg.seconds}s, {cfg.connections} clients, {cfg.threads} threads")
    with Foreign() as foreign:
        p = run([pgbench, "-N", "-c", str(cfg.connections), "-j", str(cfg.threads), "-T", str(cfg.seconds),
                 "--log", f"--log-prefix={logdir}/tx", url])
    with open(cfg.tmp / "pgbench.log", "a") as f:
        f.write(p.stdout + p.stderr)
    tps = float(re.search(r"tps = ([\d.]+)", p.stdout).group(1))
    avg = float(re.search(r"latency average = ([\d.]+) ms", p.stdout).group(1))
    lat = []
    for fpath in logdir.glob("tx*"):
        for line in open(fpath):
            parts = line.split()
            if len(parts) >= 3:
                lat.append(int(parts[2]))
    lat.sort()
    failed = re.search(r"number of failed transactions: (\d+)", p.stdout)
    res = {
        "label": "pgbench simple-update (-N)",
        "rps": round(tps, 1),
        "meanMs": avg,
        "p50Ms": round(lat[len(lat) // 2] / 1000, 3) if lat else None,
        "p99Ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000, 3) if lat else None,
        "transactions": len(lat),
        "failed": int(failed.group(1)) if failed else 0,
        "scale": cfg.pgbench_scale,
        "clients": cfg.connections,
        "threads": cfg.threads,
        "foreignCpu": round(foreign.share, 3),
    }
    log(f"  pgbench: {tps:.0f} tps, p50 {res['p50Ms']} ms, p99 {res['p99Ms']} ms, foreign CPU {foreign.share:.0%}")
    return res


def pgbench_baseline(cfg: Config) -> dict:
    """pgbench -i -s SCALE on a fresh database, then the simple-update script (-N) at the same
    connections and threads as wrk; per-transaction latencies from --log."""
    pgbench = shutil.which("pgbench") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))), None)
    if not pgbench:
        raise RuntimeError("pgbench not found")
    pg_fresh_db(cfg, cfg.pgbench_db)
    url = f"{cfg.pg_url}/{cfg.pgbench_db}"
    log(f"pgbench -i -s {cfg.pgbench_scale}")
    run([str(pgbench), "-i", "-q", "-s", str(cfg.pgbench_scale), url])
    tries = []
    for k in range(cfg.retries + 1):
        res = _pgbench_once(cfg, str(pgbench), url, cfg.tmp / f"pgbench-{k}")
        tries.append(res)
        if res["foreignCpu"] <= 0.10:
            break
    res = dict(min(tries, key=lambda t: t["foreignCpu"]), attempts=len(tries),
               failed=sum(t["failed"] for t in tries))
    pg_admin(cfg, f'DROP DATABASE IF EXISTS "{cfg.pgbench_db}" WITH (FORCE)')
    return res


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

    # The create body, validated by the server before anything else.
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

    counts = server.count_log({"serverPanics": r"panicked", "serverErrors": r"^\S+\s+ERROR\b",
                               "serverWarnings": r"^\S+\s+WARN\b", "server5xx": r"status=5\d\d"})
    res.update(counts)
    if backend == "sqlite":
        res["dbFileMiB"] = round(sum(f.stat().st_size for f in db_path.parent.iterdir()) / 2**20, 1)
    c.close()
    return res


def write_template(cfg: Config) -> Path:
    p = cfg.tmp / "create-body.json"
    if not p.exists():
        p.write_bytes(agent_body.body_bytes("__NAME__"))
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
