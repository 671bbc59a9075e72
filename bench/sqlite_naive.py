#!/usr/bin/env python3
"""The naive durable-write baseline: one writer committing one ~3 KB row per transaction to SQLite in
WAL mode with synchronous=FULL (every commit fsyncs the WAL), with no HTTP or JSON work.

    python3 bench/sqlite_naive.py [SECONDS] [DB_PATH]

prints commits/s and the p50/p99 latency of one commit.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path


def measure(db_path: Path, seconds: float, row: bytes) -> dict:
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(f"{db_path}{suffix}")
        except FileNotFoundError:
            pass
    con = sqlite3.connect(db_path, isolation_level=None)  # autocommit: one transaction per statement
    mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    con.execute("PRAGMA synchronous=FULL")
    sync = con.execute("PRAGMA synchronous").fetchone()[0]
    assert mode == "wal" and sync == 2, (mode, sync)
    con.execute("CREATE TABLE agents (id INTEGER PRIMARY KEY, name TEXT NOT NULL, body TEXT NOT NULL)")
    text = row.decode()
    lat: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    end = start + int(seconds * 1e9)
    n = 0
    while True:
        t = clock()
        if t >= end:
            break
        n += 1
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO agents (name, body) VALUES (?, ?)", (f"row {n}", text))
        con.execute("COMMIT")
        lat.append(clock() - t)
    elapsed = (clock() - start) / 1e9
    con.close()
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(len(lat) * p))] / 1e6, 3)  # noqa: E731
    return {
        "label": "naive SQLite commit (WAL, synchronous=FULL, 1 row per transaction)",
        "rps": round(len(lat) / elapsed, 1),
        "p50Ms": pct(0.50),
        "p99Ms": pct(0.99),
        "meanMs": round(sum(lat) / len(lat) / 1e6, 3),
        "commits": len(lat),
        "rowBytes": len(row),
        "seconds": round(elapsed, 2),
        "sqlite": sqlite3.sqlite_version,
    }


if __name__ == "__main__":
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    path = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp()) / "naive.db"
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import agent_body
    print(measure(path, secs, agent_body.body_bytes("Naive baseline row")))
