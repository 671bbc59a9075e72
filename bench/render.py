"""Renders a results dict of bench.py as docs/BENCHMARKS.md (and a short summary for the terminal).

    python3 bench/render.py bench/results/<file>.json > docs/BENCHMARKS.md
"""

from __future__ import annotations

import json
import os
import sys

DEEP_TARGET = 100_000

ROWS = [
    # key, what, baseline key (reads: nginx label; writes: "durable")
    ("get_one", "GET one agent", "nginx GET agent"),
    ("get_many", "GET across the {agents} agents", "nginx GET agent"),
    ("patch", "PATCH one agent, nested change (durable)", "durable"),
    ("patch_dry", "the same PATCH as a dry run (all its work, nothing stored)", "durable"),
    ("list_first", "list, first page (50)", "nginx GET list page"),
    ("create", "create a ~3 KB agent (durable)", "durable"),
    ("deep_list_first", "list, first page (50)", "nginx GET list page"),
    ("deep_list_deep", "list, page at depth {depth} (50)", "nginx GET list page"),
    ("deep_get_many", "GET across {agents} agents", "nginx GET agent"),
    ("deep_patch", "PATCH nested (durable)", "durable"),
]


def fmt(v, digits=2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and v >= 1000:
        return f"{v:,.0f}".replace(",", " ")
    if isinstance(v, int):
        return f"{v:,}".replace(",", " ")
    return f"{v:.{digits}f}"


def walk_note(deep: dict) -> str:
    def one(w: dict) -> str:
        return (f"{fmt(w['pages'])} pages in {fmt(w['seconds'], 1)} s, p50 {fmt(w['p50Ms'])} ms, slowest "
                f"{fmt(w['maxMs'], 1)} ms, {w['over100Ms']} over 100 ms")
    out = []
    if deep.get("firstWalk"):
        out.append(f" The first walk over the whole list right after it was filled (one client): "
                   f"{one(deep['firstWalk'])}.")
    if deep.get("walk"):
        out.append(f" The walk to the cursor{' after it' if deep.get('firstWalk') else ''}: {one(deep['walk'])}.")
    return "".join(out)


def disturbance(x: dict) -> float:
    """The share of the CPUs that other processes or the hypervisor took during a measurement (runs
    before the suite counted steal apart from processes' time could hide steal in the first)."""
    return max(x.get("foreignCpu") or 0, x.get("stolenCpu") or 0)


def other(x: dict) -> str:
    n = x.get("attempts", 1)
    return (pct(disturbance(x)) if "foreignCpu" in x else "–") + (f" (least of {n} tries)" if n > 1 else "")


def rate(v) -> str:
    return "–" if v is None else f"{v:,.0f}".replace(",", " ")


def pct(v) -> str:
    return "–" if v is None else f"{v * 100:.0f}%"


def ratio(a, b) -> float | None:
    if a is None or b in (None, 0):
        return None
    return a / b


def verdict(ok: bool | None, provisional: bool = False) -> str:
    if ok is None:
        return "n/a"
    v = "**PASS**" if ok else "**FAIL**"
    return f"{v} (at a smaller store, provisional)" if provisional else v


def durable_baseline(results: dict, backend: str) -> dict | None:
    b = results["baselines"]
    return b.get("sqlite_naive") if backend == "sqlite" else b.get("pgbench")


def baseline_name(backend: str) -> str:
    return "naive SQLite commit" if backend == "sqlite" else "pgbench simple-update"


DISTURBED = 0.10


def disturbed(*measurements) -> str:
    """A note when other processes used more than 10% of the CPUs during a measurement a verdict rests on."""
    worst = max((disturbance(m) for m in measurements if m), default=0)
    return (f" (disturbed: other processes or the hypervisor took {worst:.0%} of the CPUs)"
            if worst > DISTURBED else "")


def targets(results: dict, backend: str) -> list[tuple[str, str, str]]:
    r = results["backends"][backend]
    B = r["benches"]
    nginx = results["baselines"].get("nginx", {})
    ng = nginx.get("nginx GET agent", {})
    dur = durable_baseline(results, backend) or {}
    stored = r.get("storedAgents", 0)
    small = stored < DEEP_TARGET
    out = []
    g = B["get_one"]
    rr = ratio(g["rps"], ng.get("rps"))
    out.append(("GET one agent ≥ 0.6× nginx static",
                f"{fmt(rr)}× ({rate(g['rps'])} vs {rate(ng.get('rps'))} req/s)",
                verdict(rr is not None and rr >= 0.6) + disturbed(g, ng)))
    out.append(("GET one agent p99 < 5 ms", f"{fmt(g['p99Ms'])} ms", verdict(g["p99Ms"] < 5) + disturbed(g)))
    p = B["patch"]
    pr = ratio(p["rps"], dur.get("rps"))
    if backend == "sqlite":
        out.append(("durable PATCH ≥ 2× naive durable SQLite commit rate",
                    f"{fmt(pr)}× ({rate(p['rps'])} vs {rate(dur.get('rps'))} per s)",
                    verdict(pr is not None and pr >= 2) + disturbed(p, dur)))
    else:
        out.append(("durable PATCH vs pgbench simple-update (no target set)",
                    f"{fmt(pr)}× ({rate(p['rps'])} vs {rate(dur.get('rps'))} per s)", "n/a"))
    dry = B.get("patch_dry")
    if dry:
        out.append((f"ceiling (no target): the same PATCH as a dry run vs the {baseline_name(backend)}",
                    f"{fmt(ratio(dry['rps'], dur.get('rps')))}× ({rate(dry['rps'])} vs {rate(dur.get('rps'))} per s): "
                    f"every part of a PATCH but storing it", "n/a"))
    out.append(("PATCH p99 < 20 ms", f"{fmt(p['p99Ms'])} ms", verdict(p["p99Ms"] < 20) + disturbed(p)))
    d = r["checks"]["durability"]
    out.append(("every acknowledged write durable (SIGKILL after and during PATCH load, restart)",
                f"{d['versionsChecked']} acknowledged versions of {d['agentsChecked']} agents checked: "
                f"{d['missing']} missing, {d['stale']} stale; non-2xx during load: {p['non2xx']}",
                verdict(d["pass"] and p["non2xx"] == 0 and p["socketErrors"] == 0)))
    f, dp = B["deep_list_first"], B["deep_list_deep"]
    lat = ratio(dp["p50Ms"], f["p50Ms"])
    thr = ratio(f["rps"], dp["rps"])
    out.append((f"list page at depth {fmt(r['deepPage']['depth'])} ≤ 1.5× the first page",
                f"p50 {fmt(lat)}×, p99 {fmt(ratio(dp['p99Ms'], f['p99Ms']))}×, cost per request (1/req/s) "
                f"{fmt(thr)}×", verdict(lat is not None and thr is not None and lat <= 1.5 and thr <= 1.5, small) + disturbed(f, dp)))
    hp = r["checks"].get("heavyPatches")
    if hp:
        hr = ratio(hp["underPatches"]["p90Ms"], hp["alone"]["p90Ms"])
        out.append((f"/healthz p90 while {hp['clients']} clients send {fmt(hp['operations'])}-operation JSON "
                     f"Patches (no target set; ratio to /healthz alone)",
                     f"{fmt(hr)}× ({fmt(hp['underPatches']['p90Ms'], 3)} vs {fmt(hp['alone']['p90Ms'], 3)} ms; "
                     f"{rate(hp['underPatches']['patchesPerSecond'])} patches/s)", "n/a"))
    rss = r["rssUnderLoad"]["maxRssMiB"]
    out.append((f"resident memory under load with {fmt(stored)} stored agents < 100 MiB",
                f"max {fmt(rss, 1)} MiB (sampled every 50 ms)", verdict(rss < 100, small)))
    kb = r.get("knowledge")
    if kb:
        up = kb["upload"]
        floor = ratio(up.get("p50Ms"), up.get("extractionMsPerMb") and up["extractionMsPerMb"] * up["pdfBytes"] / 2**20)
        out.append((f"upload of a 1 MB PDF, {up['clients']} clients (no target set; ratio to the server's own "
                    f"extraction time, its floor)",
                    f"{rate(up.get('rps'))} uploads/s, p99 {fmt(up.get('p99Ms'))} ms; extraction "
                    f"{fmt(up.get('extractionMsPerMb'))} ms per MB; upload p50 {fmt(floor)}× the extraction", "n/a"))
        se = kb["search"]
        fl = se.get("fts5Floor")
        note = (f"; {fmt(ratio(se.get('p50Ms'), fl.get('p50Ms')))}× the p50 of the same FTS5 query alone "
                f"({fmt(fl.get('p50Ms'), 3)} ms, Python sqlite3, {fmt(fl['passages'])} passages)") if fl else ""
        out.append((f"search at {fmt(se['documents'])} documents p99 < 20 ms",
                    f"{fmt(se.get('p99Ms'))} ms ({rate(se.get('qps'))} queries/s, {se['clients']} clients){note}",
                    verdict(se.get("p99Ms") is not None and se["p99Ms"] < 20 and se["failed"] == 0) + disturbed(se)))
        cw = se.get("commonWords")
        if cw:
            out.append(("search for one common word (each in about 1 passage in 10; no target set)",
                        f"p99 {fmt(cw.get('p99Ms'))} ms, p50 {fmt(cw.get('p50Ms'))} ms ({rate(cw.get('qps'))} queries/s)",
                        "n/a"))
        me = kb["memory"]
        out.append((f"resident memory while {me['clients']} clients upload 5 MB files < 150 MiB",
                    f"max {fmt(me['maxRssMiB'], 1)} MiB ({fmt(me['uploads'])} uploads, sampled every 50 ms)",
                    verdict(me["maxRssMiB"] < 150 and me["failed"] == 0)))
    out.extend(calls_targets(r.get("calls"), dur, backend))
    out.extend(webhooks_targets(r.get("webhooks")))
    cs = r["coldStartMedianMs"]
    out.append((f"cold start to /readyz with {fmt(stored)} stored agents < 200 ms",
                f"median {fmt(cs, 1)} ms of {', '.join(fmt(x, 1) for x in r['coldStartMs'])}",
                verdict(cs < 200, small)))
    return out


def calls_targets(calls: dict | None, dur: dict, backend: str) -> list[tuple[str, str, str]]:
    """The rows of the calls benchmarks (issue #22)."""
    if not calls:
        return []
    out = []
    ing = calls["ingestion"]
    out.append((f"ingestion: a call's whole life ({ing['writesPerCall']} writes: create, 20 turns in 4 "
                f"requests, finish), {ing['clients']} clients (no target set; writes vs the {baseline_name(backend)})",
                f"{rate(ing['callsPerSecond'])} calls/s, p99 of a call {fmt(ing.get('p99Ms'))} ms; "
                f"{rate(ing['writesPerSecond'])} writes/s = {fmt(ratio(ing['writesPerSecond'], dur.get('rps')))}× "
                f"the baseline's {rate(dur.get('rps'))} per s; failed {fmt(ing['failed'])}", "n/a"))
    li = calls["list"]
    for first, deep, what in (("first", "deep", ""), ("agentFirst", "agentDeep", " with agentId")):
        f, d = li[first], li[deep]
        lat, thr = ratio(d["p50Ms"], f["p50Ms"]), ratio(f["rps"], d["rps"])
        out.append((f"GET /conversations{what}: the page at depth {fmt(li['stored'])} ≤ 1.5× the first",
                    f"p50 {fmt(lat)}×, p99 {fmt(ratio(d['p99Ms'], f['p99Ms']))}×, cost per request {fmt(thr)}× "
                    f"({rate(d['rps'])} vs {rate(f['rps'])} req/s)",
                    verdict(lat is not None and thr is not None and lat <= 1.5 and thr <= 1.5) + disturbed(f, d)))
    rc = calls["runtimeConfig"]
    ok, nm, ng = rc["ok"], rc["notModified"], rc["nginx"]
    rr = ratio(ok["rps"], ng.get("rps"))
    out.append((f"GET runtime config ≥ 0.8× nginx serving the same {fmt(rc['bytes'])} bytes",
                f"{fmt(rr)}× ({rate(ok['rps'])} vs {rate(ng.get('rps'))} req/s)",
                verdict(rr is not None and rr >= 0.8) + disturbed(ok, ng)))
    cpu = (f"; server CPU {fmt(nm.get('serverCpuUsPerRequest'), 1)} vs {fmt(ok.get('serverCpuUsPerRequest'), 1)} µs "
           f"a request" if nm.get("serverCpuUsPerRequest") and ok.get("serverCpuUsPerRequest") else "")
    out.append(("runtime config 304 (If-None-Match) at least as fast as the 200",
                f"{fmt(ratio(nm['rps'], ok['rps']))}× ({rate(nm['rps'])} vs {rate(ok['rps'])} req/s{cpu})",
                verdict(nm["rps"] >= ok["rps"]) + disturbed(nm, ok)))
    out.append(("runtime config p99 < 5 ms (200 and 304)",
                f"{fmt(ok['p99Ms'])} ms and {fmt(nm['p99Ms'])} ms",
                verdict(ok["p99Ms"] < 5 and nm["p99Ms"] < 5) + disturbed(ok, nm)))
    cd = calls.get("changeDelay")
    if cd:
        out.append(("runtime config: a change acknowledged by another instance shows here after "
                    "(the bound of its staleness without --strict-runtime-config; no target set)",
                    f"p50 {fmt(cd.get('p50Ms'), 3)} ms, p99 {fmt(cd.get('p99Ms'), 3)} ms, max {fmt(cd.get('maxMs'), 3)} ms "
                    f"({fmt(cd['stalePolls'])} stale answers over {fmt(cd['rounds'])} changes)", "n/a"))
    return out


def webhooks_targets(w: dict | None) -> list[tuple[str, str, str]]:
    """The rows of the webhook benchmarks (issue #23)."""
    if not w:
        return []
    out = []
    fa = w["firstAttempt"]
    out.append(("webhooks: commit to first attempt (a PATCH's answer to its delivery's arrival at a local "
                "receiver) p99 < 1 s",
                f"p50 {fmt(fa.get('p50Ms'), 3)} ms, p99 {fmt(fa.get('p99Ms'), 3)} ms "
                f"({fmt(fa['arrived'])} of {fmt(fa['rounds'])} sequential PATCHes)",
                verdict(fa.get("p99Ms") is not None and fa["arrived"] == fa["rounds"] and fa["p99Ms"] < 1000)))
    p = w["patch"]
    pr = ratio(p["with"]["rps"], p["without"]["rps"])
    cpu = ""
    if p["with"].get("serverCpuUsPerRequest") and p["without"].get("serverCpuUsPerRequest"):
        cpu = (f"; server CPU a PATCH {fmt(p['with']['serverCpuUsPerRequest'], 1)} µs with its delivery vs "
               f"{fmt(p['without']['serverCpuUsPerRequest'], 1)} µs without")
    load = ""
    if p.get("drainSeconds") is not None:
        sustained = ratio(p["with"].get("sustainedRps"), p["without"]["rps"])
        load = (f"; {rate(p.get('deliveredDuringLoad'))} of its {rate(p.get('delivered'))} deliveries made during "
                f"the loads, the rest in drains of {', '.join(fmt(s, 2) for s in p['drainSeconds'])} s after "
                f"them; counting the drains, {rate(p['with'].get('sustainedRps'))} req/s = {fmt(sustained)}×")
    out.append(("webhooks: PATCH with an endpoint subscribed to agent.updated ≥ 0.9× PATCH without "
                "(four alternating turns after a warm-up pair; each PATCH a delivery, at the default low "
                "priority: deliveries wait for a lull in the API's requests, or 30 s; what a turn with the "
                "endpoint leaves pending is drained before the next turn)",
                f"{fmt(pr)}× ({rate(p['with']['rps'])} vs {rate(p['without']['rps'])} req/s{load}{cpu})",
                verdict(pr is not None and pr >= 0.9) + disturbed(p["with"], p["without"])))
    d, direct = w["drain"], w["direct"]
    out.append((f"webhooks: deliveries a second to nginx answering 204, {fmt(d['deliveries'])} stored pending "
                "and drained by a starting server (no target set; beside wrk POSTing the same body to that nginx)",
                f"{rate(d['perSecond'])} a second ({fmt(d['seconds'])} s, start included) = "
                f"{fmt(ratio(d['perSecond'], direct.get('rps')))}× wrk's {rate(direct.get('rps'))} req/s",
                "n/a"))
    return out


def markdown(results: dict, command: str = "bench/run") -> str:
    cfg = results["config"]
    m = results["machine"]
    base = results["baselines"]
    L: list[str] = []
    w = L.append
    w("# Benchmarks")
    w("")
    w("<!-- Generated by bench/run (bench/render.py); do not edit by hand. -->")
    w("")
    if cfg["quick"]:
        w("> **Quick smoke run** (`BENCH_QUICK=1`): short durations and a small store. The figures are")
        w("> indicative only; run `bench/run` without `BENCH_QUICK` for the real numbers.")
        w("")
    w(f"- **Date**: {m['date']}; commit {m['commit']}")
    w(f"- **Machine**: {m['cpus']} CPUs ({m['cpuModel']}), {m['memGiB']} GiB RAM, Linux {m['kernel']}, "
      f"temp files on {m['filesystem']}")
    w(f"- **Load**: {m['wrk']}, {cfg['connections']} connections, {cfg['threads']} threads, "
      f"{cfg['seconds']} s per measurement, on the same machine as the server (they share the CPUs)")
    first = next(iter(results["backends"].values()), {})
    w(f"- **Agents**: {fmt(cfg['agents'])} created first, of {fmt(first.get('createBodyBytes'))} bytes as a create "
      f"body and {fmt(first.get('getResponseBytes'))} bytes as a GET response (every default filled in); "
      f"then the store is filled to {fmt(cfg['deep'])} agents (the `@N` rows)")
    skip = {"--listen", "--database", "--metrics-listen", "--rate-limit-per-minute", "--log-format", "--redis-url"}
    defaults = ", ".join(f"`{k} {v}`" for k, v in results.get("serveDefaults", {}).items() if k not in skip)
    metrics = ("metrics on a local port, scraped before and after each write measurement"
               if results.get("serverMetrics") else "`--metrics-listen off`")
    w(f"- **Server**: the release binary, {metrics}, no rate limit, request log (`info`, text) to a "
      f"file, everything else at its defaults{': ' + defaults if defaults else ''}")
    if "postgres" in m:
        pg = m["postgres"]
        w(f"- **PostgreSQL** {pg.get('server_version')} on the same machine: fsync={pg.get('fsync')}, "
          f"synchronous_commit={pg.get('synchronous_commit')}, wal_sync_method={pg.get('wal_sync_method')}, "
          f"commit_delay={pg.get('commit_delay')}, shared_buffers={pg.get('shared_buffers')}")
    w(f"- **Reproduce**: `{command}` (see [bench/README.md](../bench/README.md)); this run took "
      f"{results.get('elapsedSeconds', 0) / 60:.1f} min")
    w("")
    w("Ratios are dialplane ÷ baseline: above 1 is more requests per second than the baseline, and for")
    w("latency above 1 is slower than the baseline. Latencies are per request as the load generator saw them.")
    w("\"Other CPU\" is the share of the machine's CPU time that processes outside the benchmark (not the")
    w("suite, its server, wrk, nginx or PostgreSQL) used, or that the hypervisor gave to other guests")
    w("(steal), during the measurement; each measurement first has")
    w("the kernel write out what earlier steps left for the disk (`sync`) and waits for the machine to be")
    w("idle, and one disturbed by more than 10% is repeated (up to "
      f"{cfg.get('retries', 0)} times), keeping the least disturbed try; errors count every try.")
    w("\"Server CPU\" is the CPU time the server process (all its threads) used per request during the")
    w("measurement: on a shared VM, steadier than requests per second from one run to the next.")
    w(f"Load average at the start {' '.join(m.get('loadavgAtStart', []))}, at the "
      f"end {' '.join(m.get('loadavgAtEnd', []))}.")
    w("")

    w("## Baselines (same machine, same run)")
    w("")
    w("| baseline | per second | p50 ms | p99 ms | other CPU | notes |")
    w("|---|---:|---:|---:|---:|---|")
    ng = base.get("nginx", {})
    nb = ng.get("bytes", {})
    for label, what in (("nginx GET agent", f"the same {fmt(nb.get('agent'))} bytes as the GET response"),
                        ("nginx GET list page", f"the same {fmt(nb.get('list'))} bytes as the first list page"),
                        ("nginx PATCH answered", f"reads the suite's PATCH requests (`patch.lua`) and answers each with "
                         f"the {fmt(nb.get('agent'))} bytes of an agent: the HTTP floor of a PATCH, no work and no "
                         f"storage")):
        if label in ng:
            b = ng[label]
            w(f"| {label.replace('nginx', 'nginx static,')} | {rate(b['rps'])} | {fmt(b['p50Ms'])} | {fmt(b['p99Ms'])} | "
              f"{other(b)} | {m['nginx']}, `worker_processes auto`, access log off, {what}; wrk as above |")
    if "sqlite_naive" in base:
        b = base["sqlite_naive"]
        w(f"| naive durable SQLite commit | {rate(b['rps'])} | {fmt(b['p50Ms'], 3)} | {fmt(b['p99Ms'], 3)} | "
          f"{other(b)} | one Python loop, one {fmt(b['rowBytes'])}-byte row per transaction, WAL, `synchronous=FULL`, "
          f"SQLite {b['sqlite']}, no HTTP or JSON; latency per commit |")
    if "pgbench" in base:
        b = base["pgbench"]
        w(f"| pgbench simple-update | {rate(b['rps'])} | {fmt(b['p50Ms'])} | {fmt(b['p99Ms'])} | "
          f"{other(b)} | `pgbench -N -c {b['clients']} -j {b['threads']}`, scale {b['scale']}; tps without connection "
          f"time, latency per transaction from `--log`; {b['failed']} failed |")
    w("")

    for backend, r in results["backends"].items():
        B = r["benches"]
        dur = durable_baseline(results, backend) or {}
        title = "SQLite (embedded, default)" if backend == "sqlite" else "PostgreSQL"
        w(f"## {title}")
        w("")
        w(f"Durable writes are compared with the {baseline_name(backend)}; reads with nginx serving the same bytes.")
        w("")
        w("| benchmark | stored | req/s | p50 ms | p99 ms | baseline | req/s ratio | p50 ratio | p99 ratio | errors | other CPU | server CPU µs/req |")
        w("|---|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|")
        for key, what, bkey in ROWS:
            if key not in B:
                continue
            x = B[key]
            deep = key.startswith("deep_")
            stored = r["storedAgents"] if deep else cfg["agents"]
            what = what.format(agents=fmt(cfg["agents"]), depth=fmt(r["deepPage"]["depth"]))
            if bkey == "durable":
                b, bname = dur, baseline_name(backend)
            else:
                b, bname = ng.get(bkey, {}), bkey.replace("nginx GET", "nginx")
            errs = []
            n2, se = x.get("non2xxAllAttempts", x["non2xx"]), x.get("socketErrorsAllAttempts", x["socketErrors"])
            if n2:
                errs.append(f"{fmt(n2)} non-2xx")
            if se:
                errs.append(f"{fmt(se)} socket")
            w(f"| {what} | {fmt(stored)} | {rate(x['rps'])} | {fmt(x['p50Ms'])} | {fmt(x['p99Ms'])} | {bname} | "
              f"{fmt(ratio(x['rps'], b.get('rps')))} | {fmt(ratio(x['p50Ms'], b.get('p50Ms')))} | "
              f"{fmt(ratio(x['p99Ms'], b.get('p99Ms')))} | {', '.join(errs) or '0'} | {other(x)} | "
              f"{fmt(x.get('serverCpuUsPerRequest'), 1)} |")
        w("")
        w("### Targets")
        w("")
        w("| target | measured | verdict |")
        w("|---|---|---|")
        for t, meas, v in targets(results, backend):
            w(f"| {t} | {meas} | {v} |")
        w("")
        d = r["checks"]["durability"]
        tc = r["checks"]["timestampCursor"]
        rss = r["rssUnderLoad"]
        w("### Details")
        w("")
        w(f"- Seeding ({fmt(cfg['agents'])} agents, {cfg.get('seedWorkers', 8)} concurrent Python clients): {rate(r['seedRps'])} creates/s"
          + (f"; filling to {fmt(r['storedAgents'])}: {rate(r.get('topUpRps'))} creates/s" if r.get("topUpRps") else ""))
        w(f"- Durability: PATCH answers acknowledged {fmt(d.get('ackedDuringLoad'))} writes during the measured load "
          f"and {fmt(d.get('ackedBeforeCrash'))} during a second load cut by SIGKILL halfway; after each SIGKILL the "
          f"server was restarted on the same database. For every agent, the highest acknowledged version (the "
          f"ETag of the answer) was read back with `GET /agents/{{id}}/versions/{{n}}` and had to hold the "
          f"`voiceId` that request wrote, and the current ETag could not be lower: {d['versionsChecked']} checked, "
          f"{d['missing']} missing, {d['stale']} stale.")
        w(f"- Deep page: exact `nextCursor` found by walking the list in pages of 100 to item "
          f"{fmt(r['deepPage']['depth'])}; the page there held {r['deepPage']['items']} items."
          + walk_note(r['deepPage'])
          + " A plain RFC 3339 "
          f"timestamp cursor is accepted too: HTTP {tc['status']}, {tc['items']} items, all after it: "
          f"{'yes' if tc['firstAfterCursor'] else 'NO'}.")
        w(f"- Resident memory: {fmt(r['rssIdleAfterStartMiB'], 1)} MiB right after a start with {fmt(r['storedAgents'])} "
          f"agents; under the `@N` loads max {fmt(rss['maxRssMiB'], 1)} MiB, median {fmt(rss['medianRssMiB'], 1)} MiB "
          f"({rss['samples']} samples), peak (VmHWM) {fmt(rss['hwmMiB'], 1)} MiB.")
        w(f"- Cold start (spawn to the first 200 from `/readyz`, polled every 1 ms, page cache warm): "
          f"{', '.join(fmt(x, 1) for x in r['coldStartMs'])} ms; graceful shutdown (SIGTERM) took "
          f"{fmt(r['shutdownSeconds'], 3)} s.")
        batching = [(label, r["benches"][k]) for k, label in
                    (("patch", "PATCH"), ("create", "create"), ("deep_patch", f"PATCH @{fmt(r.get('storedAgents'))}"))
                    if "writesPerCommit" in r["benches"].get(k, {})]
        if batching:
            w("- Group commit, as the server's metrics counted it during the measured loads: "
              + "; ".join(f"{label} {fmt(b['writesPerCommit'], 1)} writes a commit ({rate(b['commitsPerSecond'])} "
                          f"commits/s, one WAL sync each)" for label, b in batching) + ".")
        if backend == "sqlite" and "dbFileMiB" in r:
            w(f"- Database files: {fmt(r['dbFileMiB'], 1)} MiB for {fmt(r['storedAgents'])} agents and their versions.")
        w(f"- Server log: {r['serverPanics']} panics, {r['serverErrors']} ERROR and {r.get('serverWarnings', 0)} WARN lines, {r.get('server5xx', 0)} answers with a 5xx status"
          + ("; " + "; ".join(f"{n} × `{k}`" for k, n in r["logKinds"].items()) if r.get("logKinds") else "") + ".")
        w("")
    w("## Method")
    w("")
    w("Every figure comes from one run of the suite. wrk runs closed-loop (each connection sends its next")
    w("request when the answer arrives), so requests per second and latency are measured together at the")
    w("given concurrency. GET one agent repeats one request; GET across agents rotates over the created agents;")
    w("PATCH sends `{\"conversationConfig\": {\"agent\": {\"prompt\": {\"temperature\": T}}, \"tts\": {\"voiceId\": V}}}`")
    w("with a unique `V`, so every request stores a new version; create posts the full agent with a distinct name.")
    w("List pages are `pageSize=50&sortBy=created_at&sortDirection=asc`. The `@N` rows run after the store was")
    w("filled and the server restarted, while its resident memory is sampled.")
    w("")
    # What profiling taught us: written by hand in bench/NOTES.md, kept with every run's figures.
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "NOTES.md")
    if os.path.exists(notes):
        w(open(notes).read().rstrip())
        w("")
    return "\n".join(L)


def summary(results: dict) -> str:
    out = []
    for backend in results["backends"]:
        out.append(f"== {backend}")
        for key, x in results["backends"][backend]["benches"].items():
            out.append(f"  {key:16} {x['rps']:>10.0f} req/s  p50 {x['p50Ms']:>7.2f} ms  p99 {x['p99Ms']:>7.2f} ms"
                       f"  non-2xx {x['non2xx']}  socket errors {x['socketErrors']}")
        for t, meas, v in targets(results, backend):
            out.append(f"  {v.replace('**', ''):<8} {t}: {meas}")
    return "\n".join(out)


if __name__ == "__main__":
    r = json.load(open(sys.argv[1]))
    print(markdown(r, r.get("command", "bench/run")))
