"""The baselines measured in the same run: nginx serving the same bytes, and pgbench."""

from __future__ import annotations
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness import Client, Config, Foreign, free_port, log, run, track, wait_idle, wrk





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
