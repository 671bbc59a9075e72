"""The benchmark's harness: settings, processes, the HTTP client, the server under test, memory and
CPU accounting, waiting for a quiet machine, and wrk runs."""

from __future__ import annotations
import http.client
import json
import os
import re
import signal
import socket
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
    def __init__(self, cfg: Config, name: str, db_url: str, extra: list[str] | None = None) -> None:
        self.cfg = cfg
        self.name = name
        self.db_url = db_url
        self.extra = extra or []
        self.port = free_port()
        self.metrics_port = free_port()
        while self.metrics_port == self.port:
            self.metrics_port = free_port()
        self.log_path = cfg.tmp / f"{name}-server.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def args(self) -> list[str]:
        # Webhooks are delivered only where a benchmark measures them (bench/webhooks.py, to local
        # receivers): everywhere else they are recorded and sent nowhere, not even resolved.
        deliver = [] if "--webhook-deliver" in self.extra else ["--webhook-deliver", "false"]
        return [self.cfg.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--database", self.db_url,
                "--metrics-listen", f"127.0.0.1:{self.metrics_port}", "--rate-limit-per-minute", "0",
                "--log-format", "text", *deliver, *self.extra]

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

    def analyze(self) -> None:
        """On PostgreSQL, gathers the planner's statistics now (what autovacuum does on its own)."""
        if self.db_url.startswith("postgres"):
            subprocess.run(["psql", self.db_url, "-qc", "ANALYZE"], check=True)

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
