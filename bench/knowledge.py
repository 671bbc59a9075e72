"""Knowledge-base benchmarks, run by bench.py in the same run as the rest: uploads of a 1 MB PDF
(requests per second, p99, and the server's own extraction time per MB as their floor), search over
10 000 documents (p99; on SQLite beside the same FTS5 query run by Python's sqlite3 on the same
corpus, the floor of the storage engine), and resident memory while 8 clients upload 5 MB files."""

from __future__ import annotations
import itertools
import json
import random
import sqlite3
import statistics
import threading
import time
import urllib.parse

from harness import API, Client, Config, RssSampler, env_int, log, wait_idle

VOCABULARY = [f"w{n:05d}" for n in range(20_000)]
# Word frequencies follow Zipf's law (the k-th most frequent word k times rarer than the first), as in
# natural text: a few words are in every passage, most are rare.
ZIPF = list(itertools.accumulate(1 / (k + 1) for k in range(len(VOCABULARY))))
DOCUMENTS = env_int("BENCH_KB_DOCUMENTS", 10_000)
WORDS_PER_DOCUMENT = 800  # about 5 000 characters: five passages


def pdf_of(size: int) -> bytes:
    """A PDF of about `size` bytes whose text layer is lines of words (what an upload's extraction reads)."""
    rng = random.Random(7)
    lines = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(VOCABULARY) for _ in range(12))
        lines.append(f"({line}) Tj T*")
        total += len(line) + 8
    content = "BT /F1 10 Tf 40 800 Td 12 TL\n" + "\n".join(lines) + "\nET\n"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}endstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects):
        offsets.append(len(out))
        out += f"{i + 1} 0 obj\n{obj}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for o in offsets:
        out += f"{o:010} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def form(group: str, name: str, data: bytes) -> tuple[str, bytes]:
    boundary = "bench-boundary-3f9a"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"groupName\"\r\n\r\n{group}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def percentiles(latencies: list[float]) -> dict:
    ms = sorted(x * 1000 for x in latencies)
    if not ms:
        return {"count": 0}
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    return {"count": len(ms), "p50Ms": round(pick(0.5), 2), "p90Ms": round(pick(0.9), 2),
            "p99Ms": round(pick(0.99), 2), "maxMs": round(ms[-1], 2)}


def hammer(clients: int, seconds: float, make) -> tuple[list[float], float, int]:
    """`clients` threads each calling the function `make()` returns, for `seconds`: latencies of the
    calls that succeeded, the elapsed time, and the failures."""
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients

    def worker(n: int) -> None:
        call = make()
        while not stop.is_set():
            t = time.perf_counter()
            ok = call()
            if ok:
                latencies[n].append(time.perf_counter() - t)
            else:
                failures[n] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return [x for l in latencies for x in l], time.perf_counter() - t0, sum(failures)


def metric(metrics_port: int, name: str) -> float:
    m = Client(metrics_port)
    status, _, data = m.request("GET", "/metrics")
    m.close()
    for line in data.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def uploader(port: int, key: str, group: str, name: str, data: bytes, ok: tuple[int, ...]):
    """For `hammer`: each client uploads `data` as file `name` into a new group `<group>-<n>`; a call
    succeeds when the status is one of `ok`."""
    counter = iter(range(10**9))

    def make():
        c = Client(port, key)

        def call() -> bool:
            ctype, body = form(f"{group}-{next(counter)}", name, data)
            status, _, _ = c.request("POST", f"{API}/knowledge-base/documents/file", body, {"content-type": ctype})
            return status in ok
        return call
    return make


def uploads(cfg: Config, port: int, key: str, metrics_port: int) -> dict:
    pdf = pdf_of(1 << 20)
    seconds = max(3, min(cfg.seconds, 10))
    wait_idle(cfg, "PDF uploads")
    ext = 'dialplane_kb_extraction_duration_seconds_{}{{file_type="pdf",outcome="ok"}}'
    before = (metric(metrics_port, ext.format("sum")), metric(metrics_port, ext.format("count")))
    lat, elapsed, failed = hammer(4, seconds, uploader(port, key, "pdf", "bench.pdf", pdf, (201,)))
    after = (metric(metrics_port, ext.format("sum")), metric(metrics_port, ext.format("count")))
    n = after[1] - before[1]
    extraction_ms = (after[0] - before[0]) / n * 1000 if n else None
    mb = len(pdf) / 2**20
    out = {"pdfBytes": len(pdf), "clients": 4, "rps": round(len(lat) / elapsed, 1), "failed": failed,
           **percentiles(lat), "extractionMsPerMb": round(extraction_ms / mb, 1) if extraction_ms else None}
    log(f"  upload 1 MB PDF: {out['rps']}/s, p99 {out.get('p99Ms')} ms; extraction {out['extractionMsPerMb']} ms/MB")
    return out


def corpus_text(n: int) -> str:
    rng = random.Random(n)
    words = rng.choices(VOCABULARY, cum_weights=ZIPF, k=WORDS_PER_DOCUMENT)
    return "\n\n".join(" ".join(words[i:i + 160]) + "." for i in range(0, len(words), 160))


def seed_documents(port: int, key: str, have: int, want: int, workers: int = 8) -> None:
    todo = iter(range(have, want))
    lock = threading.Lock()

    def worker() -> None:
        c = Client(port, key)
        while True:
            with lock:
                n = next(todo, None)
            if n is None:
                break
            body = json.dumps({"name": f"doc {n}", "text": corpus_text(n)}).encode()
            status, _, data = c.request("POST", f"{API}/knowledge-base/documents/text", body)
            if status != 201:
                raise RuntimeError(f"seeding document {n}: {status} {data[:300]!r}")
        c.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def queries(count: int) -> list[str]:
    """What a caller asks: one to three content words (past the 200 most frequent words, which in
    text are the function words a search engine's stop list drops)."""
    rng = random.Random(11)
    return [" ".join(rng.choice(VOCABULARY[200:]) for _ in range(rng.choice((1, 2, 2, 3)))) for _ in range(count)]


def common_queries(count: int) -> list[str]:
    """The stress case: one word among the 100th to 200th most frequent, each in about one passage
    in ten, so that thousands of passages are ranked for every query."""
    rng = random.Random(13)
    return [rng.choice(VOCABULARY[100:200]) for _ in range(count)]


def sqlite_fts_floor(qs: list[str], seconds: float) -> dict:
    """The same corpus in an in-memory FTS5 table, queried by Python's sqlite3 the way the server
    ranks (bm25, best 5): what the storage engine costs alone."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE p USING fts5(text, tokenize = 'porter unicode61 remove_diacritics 2')")
    rows = []
    for n in range(DOCUMENTS):
        rows.extend((p,) for p in corpus_text(n).split("\n\n"))
    db.executemany("INSERT INTO p (text) VALUES (?)", rows)
    db.commit()
    lat = []
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        q = " AND ".join(f'("{w}")' for w in qs[i % len(qs)].split())
        t = time.perf_counter()
        db.execute("SELECT rowid, text, bm25(p) FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT 5", (q,)).fetchall()
        lat.append(time.perf_counter() - t)
        i += 1
    db.close()
    return {"passages": len(rows), "qps": round(len(lat) / seconds, 1), **percentiles(lat)}


def search(cfg: Config, backend: str, server, key: str) -> dict:
    port = server.port
    log(f"{backend}: creating {DOCUMENTS} text documents for search")
    t = time.perf_counter()
    seed_documents(port, key, 0, DOCUMENTS)
    seeded_rps = round(DOCUMENTS / (time.perf_counter() - t), 1)
    if backend == "postgres":
        # The planner's statistics, as autovacuum gathers them within a minute of a bulk load.
        server.analyze()
    qs = queries(500)
    seconds = max(3, min(cfg.seconds, 10))

    def run(qs: list[str], what: str) -> dict:
        wait_idle(cfg, what)
        counter = iter(range(10**9))

        def make():
            client = Client(port, key)

            def call() -> bool:
                q = urllib.parse.quote(qs[next(counter) % len(qs)])
                status, _, _ = client.request("GET", f"{API}/knowledge-base/search?q={q}&limit=5")
                return status == 200
            return call

        lat, elapsed, failed = hammer(4, seconds, make)
        return {"clients": 4, "qps": round(len(lat) / elapsed, 1), "failed": failed, **percentiles(lat)}

    out = {"documents": DOCUMENTS, "seedRps": seeded_rps, **run(qs, "search"),
           "commonWords": run(common_queries(100), "search (common words)")}
    if backend == "sqlite":
        out["fts5Floor"] = sqlite_fts_floor(qs, seconds)
    log(f"  search @{DOCUMENTS} documents: {out['qps']} q/s, p99 {out.get('p99Ms')} ms; "
        f"common words p99 {out['commonWords'].get('p99Ms')} ms")
    return out


def upload_memory(cfg: Config, port: int, pid: int, key: str) -> dict:
    data = b"x" * (5 * 2**20 - 4096)
    seconds = max(4, min(cfg.seconds, 6))
    # 403: the quota is reached; the upload was read all the same.
    make = uploader(port, key, "mem", "big.txt", data, (201, 403))
    with RssSampler(pid) as rss:
        lat, elapsed, failed = hammer(8, seconds, make)
    out = {"clients": 8, "fileBytes": len(data), "uploads": len(lat), "failed": failed, **rss.summary()}
    log(f"  RSS while 8 clients upload 5 MB files: max {out['maxRssMiB']} MiB ({out['uploads']} uploads)")
    return out


def knowledge_bench(cfg: Config, backend: str, server, key: str) -> dict:
    """Everything above on one server, whose workspace quota is raised for it (`--kb-quota-mib`)."""
    return {
        "upload": uploads(cfg, server.port, key, server.metrics_port),
        "search": search(cfg, backend, server, key),
        "memory": upload_memory(cfg, server.port, server.pid, key),
    }
