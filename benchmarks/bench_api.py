"""API load: requests/s and p50/p95/p99 of POST /v1/assign vs a bare Litestar endpoint.

The issue's spec: `/v1/assign` on a workspace of 20 running, targeted experiments, at
concurrency 1, 16 and 64, against a bare Litestar JSON endpoint served the same way in
the same run, with the ratio printed. Targets: >= 70 % of the bare throughput and
p99 < 5 ms at concurrency 16 on one worker; p99 < 50 ms at concurrency 64 (shedding
allowed, counted); two workers >= 1.7x one.

Starts `abwb serve --config FILE` (uvicorn, one worker, loopback, auth off) and the
bare endpoint (on uvicorn with the same HTTP protocol, `abwb.cli.http_protocol`: each
response in one write) in subprocesses pinned to CPU 0 (when `taskset` exists), and drives each
with `wrk` (one thread, pinned to CPU 1, keep-alive connections, varying unit ids so
exposure logging and de-dup run for real). `req/s` counts answered requests that were
served (2xx); `shed` is the 503s of the in-flight limit (`abwb_assign_shed_total`
from /metrics, which answers for every worker); a pass whose exposures did not all reach
the store directly says so at the end of its line (dropped on a full queue, or spooled
to disk because the store fell behind; both from /metrics): the req/s of such a pass is
more than the store sustains; `CPU µs` is the server's CPU time (its threads and worker processes
included, from /proc) per answered request, which depends far less than req/s on what
else the shared machine runs. Also measured:

- single-assign latency at concurrency 16 while a second wrk posts 1,000-unit
  `/v1/assign/bulk` calls back to back (vs the same pass without them);
- `--workers N` (default 2): one worker and N workers on the same SQLite workspace
  (`abwb serve` / `abwb serve --workers N`, unpinned: they share the CPUs with wrk).
  The scaling figure: both servers run at once and `--rounds` (default 5) rounds each
  pass c16 with `log_exposure=false` on one, then the other; the ratio is taken per
  round and the median printed with every round's, and the ceiling the machine
  allowed: the CPUs wrk left free over the CPUs one worker used (on 2 CPUs, wrk's
  ~0.25 caps two workers near 1.7-1.8x). Then each runs the passes with exposures
  (bound by the SQLite store, which sheds: not a CPU-scaling figure).

wrk is not part of the project's set-up: install it with `apt-get install -y wrk`
(Debian/Ubuntu) or `brew install wrk`. Without it a threaded httpx client drives the
load instead (a much weaker driver: its figures are not comparable) and the bulk pass
is skipped. Prints figures; asserts nothing.

- `--against DIR` (only this): this tree's server against another checkout's, e.g. a
  git worktree of the previous commit; `--rounds` rounds each start a fresh server of
  each tree in turn (pinned, empty in-process store), warm it up and measure c16 with
  new units, and the medians and every round's CPU per request are printed: the way to
  tell whether a change is faster when one run's noise is wider than the change.

Run: .venv/bin/python benchmarks/bench_api.py [--seconds 8] [--concurrency 1 16 64]
     [--workers 2] [--against DIR] (or ./run bench api --seconds 5)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
#: `abwb serve ...` run by this interpreter (the venv's `abwb` script, without PATH games).
SERVE = "import sys; from abwb.cli import main; sys.exit(main(sys.argv[1:]))"

BARE_APP = """
from litestar import Litestar, post

@post("/v1/assign", status_code=200)
async def assign(data: dict) -> dict:
    return {"unit_id": data.get("unit_id"), "ok": True}

app = Litestar([assign])

if __name__ == "__main__":  # served as `abwb serve` serves: uvicorn, one-write protocol
    import sys

    import uvicorn

    from abwb.cli.http_protocol import PROTOCOL

    port = int(sys.argv[sys.argv.index("--port") + 1])
    uvicorn.run(app, host="127.0.0.1", port=port, http=PROTOCOL, log_level="warning",
                access_log=False)
"""

#: Every request a unit never seen before, in this pass or an earlier one (the run's
#: start time and a random number make each wrk run's ids its own): every exposure is
#: new to the process's de-dup memory and goes to the store.
LUA = """
counter = 0
math.randomseed(os.time())
run = os.time() .. "-" .. math.random(1, 1000000000)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local body = string.format(
    '{"unit_id":"user-%s","attributes":{"country":"US","plan":"pro","app":{"version":"4.3.0"}}}',
    run .. "-" .. counter)
  return wrk.format(nil, nil, nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.status, summary.errors.connect
      + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

#: 1,000 units per call, posted back to back by a second wrk during a single-assign pass.
BULK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local units = {}
for i = 1, 1000 do
  units[i] = string.format(
    '{"unit_id":"bulk-%d","attributes":{"country":"US","plan":"pro","app":{"version":"4.3.0"}}}', i)
end
wrk.body = '{"units":[' .. table.concat(units, ",") .. ']}'
""" + LUA[LUA.index("done = function") :]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workspace(n: int) -> dict:
    experiments = []
    for i in range(n):
        exp = {
            "key": f"exp-{i:02d}",
            "status": "running",
            "traffic_fraction": 0.8,
            "variants": [
                {"key": "control", "weight": 0.5, "is_control": True, "payload": {"v": 0}},
                {"key": "treatment", "weight": 0.5, "payload": {"v": 1}},
            ],
        }
        # every experiment targeted (the workload)
        exp["targeting"] = {
            "all": [
                {"attr": "country", "op": "in", "value": ["US", "CA", "DE"]},
                {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"},
            ]
        }
        experiments.append(exp)
    return {"version": 1, "experiments": experiments}


def wait_ready(
    port: int, proc: subprocess.Popen[bytes], workers: int = 1, timeout_s: float = 120.0
) -> None:
    """Until the server answers HTTP (any status) and all its ``workers`` listen.

    Connections opened before a worker listens all go to the workers already
    listening, and wrk keeps its connections for the whole pass.
    """
    import httpx

    from abwb.cli.supervisor import listening_sockets

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            if workers == 1 or listening_sockets(port) >= workers:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def pinned(cmd: list[str], cpu: int) -> list[str]:
    """``cmd`` pinned to one CPU with taskset (when available and there are 2+ CPUs)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *cmd]
    return cmd


def start(
    cmd: list[str],
    port: int,
    env: dict[str, str],
    *,
    pin: bool = True,
    workers: int = 1,
    cwd: Path = ROOT,
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        pinned(cmd, 0) if pin else cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_ready(port, proc, workers)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wrk_command(url: str, seconds: int, connections: int, lua: Path) -> list[str]:
    return pinned(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "2s", "-s", str(lua), url],
        1,
    )


def wrk_result(out: str) -> dict:
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    n, duration_us, p50, p95, p99, non_2xx, socket_errors = (
        int(float(v)) for v in line.split()[1:]
    )
    return {
        "rps": (n - non_2xx) / (duration_us / 1e6),
        "p50_ms": p50 / 1e3,
        "p95_ms": p95 / 1e3,
        "p99_ms": p99 / 1e3,
        "requests": n,
        "non_2xx": non_2xx,
        "errors": socket_errors,
    }


def drive_wrk(url: str, seconds: int, connections: int, lua: Path) -> dict:
    out = subprocess.run(
        wrk_command(url, seconds, connections, lua),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    return wrk_result(out)


def drive_wrk_with_bulk(url: str, seconds: int, connections: int, scripts: dict[str, Path]) -> dict:
    """Single assigns at ``connections`` while one connection posts bulk calls back to back."""
    bulk = subprocess.Popen(
        wrk_command(url + "/bulk", seconds, 1, scripts["bulk"]),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        single = drive_wrk(url, seconds, connections, scripts["new"])
        out, _ = bulk.communicate(timeout=seconds + 30)
    finally:
        if bulk.poll() is None:
            bulk.kill()
    single["bulk_per_s"] = wrk_result(out)["rps"]
    return single


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its descendants, from /proc (Linux).

    Unlike req/s, CPU time per request hardly depends on what else the shared machine
    runs: the steadiest figure to compare two servers by.
    """
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children (the wrk runs), user + system."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: Counters read from /metrics around each pass: (column, sample line prefix).
_COUNTERS = (
    ("shed", "abwb_assign_shed_total "),
    ("offered", "abwb_exposures_offered_total "),
    ("dropped", 'abwb_exposures_dropped_total{reason="queue_full"} '),
    ("spooled", "abwb_exposures_spooled_backlog_total "),
)


def counters(port: int) -> dict[str, float] | None:
    """The :data:`_COUNTERS` of the server on ``port`` (``None``: not an abwb server)."""
    import httpx

    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    found = {}
    for line in text.splitlines():
        for name, prefix in _COUNTERS:
            if line.startswith(prefix):
                found[name] = float(line.split()[-1])
    return found if "shed" in found else None


def drive_httpx(url: str, seconds: int, connections: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors = [0]
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(w: int) -> None:
        local: list[float] = []
        with httpx.Client() as client:
            i = 0
            while time.monotonic() < stop_at:
                i += 1
                body = {"unit_id": f"user-{w}-{i}", "attributes": {"country": "US"}}
                t0 = time.perf_counter()
                r = client.post(url, json=body)
                local.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors[0] += 1
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    q = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": q[49] * 1e3,
        "p95_ms": q[94] * 1e3,
        "p99_ms": q[98] * 1e3,
        "requests": len(latencies),
        "non_2xx": errors[0],
        "errors": 0,
    }


def measure(
    url: str,
    pid: int,
    args: argparse.Namespace,
    scripts: dict[str, Path],
    use_wrk: bool,
    c: int,
    script: str,
    *,
    bulk: bool = False,
) -> dict:
    """One pass of ``args.seconds`` at concurrency ``c`` against the server ``pid``.

    The pass's ``shed`` is the growth of the server's ``abwb_assign_shed_total`` (the
    sum over its workers: ``/metrics`` answers for all of them).
    """
    port = int(url.split(":")[2].split("/")[0])
    before = counters(port)
    cpu_before = cpu_seconds(pid)
    driver_before = children_cpu_seconds()
    if bulk:
        res = drive_wrk_with_bulk(url, args.seconds, c, scripts)
    elif use_wrk:
        res = drive_wrk(url, args.seconds, c, scripts[script])
    else:
        res = drive_httpx(url, args.seconds, c)
    cpu = cpu_seconds(pid) - cpu_before
    # CPUs the server and the load generator (wrk, a child of this process) used
    res["server_cpus"] = cpu / args.seconds
    res["driver_cpus"] = (children_cpu_seconds() - driver_before) / args.seconds
    time.sleep(1.1)  # other workers publish their counters once a second
    after = counters(port)
    for name, _ in _COUNTERS:
        res[name] = (
            None if before is None or after is None else after.get(name, 0) - before.get(name, 0)
        )
    res["cpu_us"] = cpu / max(res["requests"], 1) * 1e6
    return res


def run_passes(
    url: str,
    pid: int,
    args: argparse.Namespace,
    scripts: dict[str, Path],
    use_wrk: bool,
    extras: tuple[str, ...],
) -> list[tuple[int, str, dict]]:
    """One pass per concurrency level (new unit ids), plus the diagnostic ones at c16."""

    def drive(c: int, script: str, *, bulk: bool = False) -> dict:
        return measure(url, pid, args, scripts, use_wrk, c, script, bulk=bulk)

    quiet = None
    if "no_exposure" in extras:
        # First: the passes with exposures leave a backlog that a SQLite store works
        # through for minutes afterwards, and that work would be counted against this one.
        if use_wrk:
            drive_wrk(url, 2, 16, scripts["no_exposure"])  # warm-up
        quiet = drive(16, "no_exposure")
    if use_wrk:
        drive_wrk(url, 2, 16, scripts["new"])  # warm-up
    out = [(c, "", drive(c, "new")) for c in args.concurrency]
    if "returning" in extras:
        out.append((16, ", returning units", drive(16, "returning")))
    if quiet is not None:
        out.append((16, ", log_exposure=false", quiet))
    if "bulk" in extras and use_wrk and not args.no_bulk:
        out.append((16, ", with bulk calls", drive(16, "new", bulk=True)))
    return out


def alternate(
    servers: list[tuple[str, str, int]],
    args: argparse.Namespace,
    scripts: dict[str, Path],
    use_wrk: bool,
) -> dict[str, list[dict]]:
    """``args.rounds`` passes at c16 with ``log_exposure=false`` on each server in turn.

    ``servers`` are (name, url, pid), all running at once (an idle one costs the others
    next to nothing). The shared machine's speed drifts by tens of percent within a
    minute, so a ratio is taken within each round, from passes seconds apart, and the
    median over the rounds is the figure.
    """
    if use_wrk:
        for _, url, _ in servers:
            drive_wrk(url, 2, 16, scripts["no_exposure"])  # warm-up
    passes: dict[str, list[dict]] = {name: [] for name, _, _ in servers}
    for _ in range(args.rounds):
        for name, url, pid in servers:
            passes[name].append(measure(url, pid, args, scripts, use_wrk, 16, "no_exposure"))
    return passes


def row(name: str, conc: int, res: dict) -> str:
    shed = "-" if res.get("shed") is None else f"{res['shed']:.0f}"
    line = (
        f"{name:<58} {conc:>4} {res['rps']:>8.0f} {res['p50_ms']:>7.2f} "
        f"{res['p95_ms']:>7.2f} {res['p99_ms']:>7.2f} {res['non_2xx']:>7} {shed:>6} "
        f"{res['errors']:>6} {res['cpu_us']:>6.0f}"
    )
    if "bulk_per_s" in res:
        line += f"  ({res['bulk_per_s']:.1f} bulk calls/s of 1,000 units)"
    if res.get("dropped") or res.get("spooled"):
        line += (
            f"  exposures: {res['dropped']:,.0f} dropped (queue full), "
            f"{res['spooled']:,.0f} spooled (store behind) of {res['offered']:,.0f}"
        )
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--experiments", type=int, default=20)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="also run 1 vs N workers (`abwb serve --workers N`) on the SQLite store (0: skip)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternating rounds of 1 vs N workers (log_exposure=false, c16); the median counts",
    )
    parser.add_argument("--no-bulk", action="store_true", help="skip the pass with bulk calls")
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="only compare this tree with another checkout (e.g. a git worktree of the "
        "previous commit): --rounds alternating fresh servers, c16, new units",
    )
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    if not use_wrk:
        print(
            "NOTE: wrk is not installed, so a threaded httpx client drives the load (much "
            "weaker: not comparable to the issue's figures) and the bulk pass is skipped.\n"
            "      Install it: apt-get install -y wrk   (or: brew install wrk)\n"
        )
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        env = {
            **os.environ,
            "ABWB_API_AUTH": "off",
            "ABWB_HOME": str(tmpdir / "home"),
            "PYTHONPATH": str(ROOT),
        }
        env.pop("ABWB_DATABASE_URL", None)
        env.pop("ABWB_REDIS_URL", None)
        scripts = {"new": tmpdir / "new.lua", "returning": tmpdir / "returning.lua"}
        scripts["new"].write_text(LUA)
        # 2,000 units seen again and again: exposures are de-duplicated in process
        scripts["returning"].write_text(
            LUA.replace('run .. "-" .. counter', "counter % 2000").replace("user-%s", "user-%d")
        )
        # diagnostic: what exposure logging costs (queueing, de-dup, store writes)
        scripts["no_exposure"] = tmpdir / "no_exposure.lua"
        scripts["no_exposure"].write_text(
            LUA.replace('"4.3.0"}}}', '"4.3.0"}},"log_exposure":false}')
        )
        scripts["bulk"] = tmpdir / "bulk.lua"
        scripts["bulk"].write_text(BULK_LUA)
        (tmpdir / "bare_app.py").write_text(BARE_APP)
        bare_cmd = [PYTHON, str(tmpdir / "bare_app.py")]
        n = args.experiments
        cfg = tmpdir / f"workspace_{n}.json"
        cfg.write_text(json.dumps(workspace(n)))
        if args.against is not None:
            if not use_wrk:
                raise SystemExit("--against needs wrk (apt-get install -y wrk)")
            compare_trees(args.against.resolve(), cfg, env, args, scripts)
            return
        bare_name = "bare Litestar JSON endpoint"
        assign_name = f"POST /v1/assign, {n} targeted experiments"
        # (name, command, pinned to CPU 0, diagnostic passes at c16)
        every = ("returning", "no_exposure", "bulk")
        targets: list[tuple[str, list[str], bool, tuple[str, ...], dict[str, str]]] = [
            (bare_name, bare_cmd, True, (), env),
            (assign_name, [PYTHON, "-c", SERVE, "serve", "--config", str(cfg)], True, every, env),
        ]
        one_name = f"POST /v1/assign, {n} exp., SQLite, 1 worker"
        multi_name = f"POST /v1/assign, {n} exp., SQLite, {args.workers} workers"
        if args.workers > 1:
            # Workers need a shared store: the same workspace applied to a SQLite file. One
            # home each, so that neither inherits the other's exposures or spooled backlog.
            for name, workers in ((one_name, 1), (multi_name, args.workers)):
                home_env = {**env, "ABWB_HOME": str(tmpdir / f"home-{workers}-workers")}
                subprocess.run(
                    [PYTHON, "-c", SERVE, "apply", "--yes", str(cfg)],
                    cwd=ROOT,
                    env=home_env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                serve = [PYTHON, "-c", SERVE, "serve", "--workers", str(workers)]
                targets.append((name, serve, False, (), home_env))
        pinning = "server on CPU 0, wrk on CPU 1" if pinned([], 0) else "no CPU pinning"
        print(
            f"driver: {'wrk (1 thread)' if use_wrk else 'httpx threads (wrk not installed)'}, "
            f"{args.seconds} s per pass (new unit ids); uvicorn 1 worker, loopback, "
            f"{pinning}; {os.cpu_count()} CPU(s) shared with other work\n"
        )
        print(
            f"{'target':<58} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} "
            f"{'p99 ms':>7} {'non-2xx':>7} {'shed':>6} {'errors':>6} {'CPU µs':>6}"
        )
        results: dict[tuple[str, int, str], dict] = {}
        rounds: dict[str, list[dict]] = {}
        for name, cmd, pin, extras, target_env in targets:
            if name == one_name:
                # Before any exposure is logged (a SQLite store works through the backlog
                # for minutes): 1 and N workers running at once, passes alternating.
                rounds = compare_workers(
                    [t for t in targets if t[0] in (one_name, multi_name)],
                    args,
                    scripts,
                    use_wrk,
                )
            url, proc = launch(cmd, pin, target_env)
            try:
                passes = run_passes(url, proc.pid, args, scripts, use_wrk, extras)
            finally:
                stop(proc)
            for conc, suffix, res in passes:
                results[(name, conc, suffix)] = res
                print(row(name + suffix, conc, res))
        print()
        summarise(results, rounds, args, bare_name, assign_name, one_name, multi_name)


def launch(
    cmd: list[str], pin: bool, env: dict[str, str], cwd: Path = ROOT
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a target on a free port: its ``/v1/assign`` URL and its process."""
    port = free_port()
    workers = int(cmd[cmd.index("--workers") + 1]) if "--workers" in cmd else 1
    proc = start([*cmd, "--port", str(port)], port, env, pin=pin, workers=workers, cwd=cwd)
    return f"http://127.0.0.1:{port}/v1/assign", proc


def compare_trees(
    other: Path, cfg: Path, env: dict[str, str], args: argparse.Namespace, scripts: dict[str, Path]
) -> None:
    """``--against``: this tree's ``/v1/assign`` against another checkout's, pair by pair.

    One run of the whole benchmark cannot tell a 10 % change on a shared machine. Here
    each round starts a fresh server of each tree in turn (pinned to CPU 0, an empty
    in-process store), warms it up for ``args.seconds`` and measures c16 with new units;
    the figures are compared within each round, and the medians printed.
    """
    trees = [("this tree", ROOT), (f"{other}", other)]
    lib = ROOT / "abwb" / "assignment"
    if any(lib.glob("_sha256*.so")) and not any(
        (other / "abwb" / "assignment").glob("_sha256*.so")
    ):
        raise SystemExit(
            f"{other} has no compiled bucket kernel (this tree has): copy it, "
            f"cp {lib}/_sha256*.so {other}/abwb/assignment/, or the other side hashes slower"
        )
    runs: dict[str, list[dict]] = {name: [] for name, _ in trees}
    for i in range(args.rounds):
        for name, tree in trees:
            with tempfile.TemporaryDirectory() as home:
                tree_env = {**env, "PYTHONPATH": str(tree), "ABWB_HOME": home}
                serve = [PYTHON, "-c", SERVE, "serve", "--config", str(cfg)]
                url, proc = launch(serve, True, tree_env, cwd=tree)
                try:
                    drive_wrk(url, args.seconds, 16, scripts["new"])  # warm-up
                    res = measure(url, proc.pid, args, scripts, True, 16, "new")
                finally:
                    stop(proc)
            runs[name].append(res)
            print(row(f"{name}, round {i + 1}", 16, res))
    mine, theirs = (runs[name] for name, _ in trees)

    def median(key: str, side: list[dict]) -> float:
        return statistics.median(r[key] for r in side)

    pairs = ", ".join(
        f"{a['cpu_us']:.0f}/{b['cpu_us']:.0f}" for a, b in zip(mine, theirs, strict=True)
    )
    print(
        f"\nconcurrency 16, new units: this tree {median('cpu_us', mine):.0f} µs of server CPU "
        f"per request vs {median('cpu_us', theirs):.0f} µs for {other} (median of "
        f"{args.rounds} rounds; per round this/other: {pairs}); req/s "
        f"{median('rps', mine):,.0f} vs {median('rps', theirs):,.0f}; p99 "
        f"{median('p99_ms', mine):.2f} vs {median('p99_ms', theirs):.2f} ms"
    )


def compare_workers(
    targets: list[tuple[str, list[str], bool, tuple[str, ...], dict[str, str]]],
    args: argparse.Namespace,
    scripts: dict[str, Path],
    use_wrk: bool,
) -> dict[str, list[dict]]:
    """:func:`alternate` over the worker targets, started together; prints each pass."""
    running: list[tuple[str, str, subprocess.Popen[bytes]]] = []
    try:
        for name, cmd, pin, _, env in targets:
            running.append((name, *launch(cmd, pin, env)))
        rounds = alternate([(n, url, p.pid) for n, url, p in running], args, scripts, use_wrk)
    finally:
        for _, _, proc in running:
            stop(proc)
    for i in range(args.rounds):
        for name, _, _ in running:
            print(row(f"{name}, log_exposure=false, round {i + 1}", 16, rounds[name][i]))
    return rounds


def summarise(
    results: dict[tuple[str, int, str], dict],
    rounds: dict[str, list[dict]],
    args: argparse.Namespace,
    bare_name: str,
    assign_name: str,
    one_name: str,
    multi_name: str,
) -> None:
    for conc in args.concurrency:
        bare = results[(bare_name, conc, "")]
        mine = results[(assign_name, conc, "")]
        verdict = ""
        if conc == 16:
            ok = mine["rps"] >= 0.7 * bare["rps"] and mine["p99_ms"] < 5
            verdict = f"  (target >= 70 % and p99 < 5 ms: {'met' if ok else 'MISSED'})"
        if conc == 64:
            verdict = (
                f", {mine['shed'] or 0:.0f} shed  (target p99 < 50 ms: "
                f"{'met' if mine['p99_ms'] < 50 else 'MISSED'})"
            )
        print(
            f"concurrency {conc:>2}: /v1/assign at {mine['rps'] / bare['rps']:.0%} of the bare "
            f"endpoint's throughput, p99 {mine['p99_ms']:.2f} ms vs {bare['p99_ms']:.2f} ms"
            f"{verdict}"
        )
    if 16 in args.concurrency:
        bare16, mine16 = results[(bare_name, 16, "")], results[(assign_name, 16, "")]
        print(
            f"concurrency 16: server CPU per request {mine16['cpu_us']:.0f} µs vs "
            f"{bare16['cpu_us']:.0f} µs bare: /v1/assign at "
            f"{bare16['cpu_us'] / mine16['cpu_us']:.0%} of the bare endpoint's throughput "
            "per CPU second (the steadier figure on a shared machine)"
        )
    with_bulk = results.get((assign_name, 16, ", with bulk calls"))
    if with_bulk is not None:
        alone = results[(assign_name, 16, "")]
        print(
            f"concurrency 16: single-assign p99 {alone['p99_ms']:.2f} ms without bulk calls, "
            f"{with_bulk['p99_ms']:.2f} ms with 1,000-unit bulk calls back to back "
            f"({with_bulk['bulk_per_s']:.1f} bulk calls/s)"
        )
    if args.workers > 1:
        for conc in args.concurrency:
            one, many = results[(one_name, conc, "")], results[(multi_name, conc, "")]
            print(
                f"concurrency {conc:>2}: {args.workers} workers at "
                f"{many['rps'] / one['rps']:.2f}x one worker's throughput with exposures "
                f"logged (bound by the SQLite store: see the shed column), p99 "
                f"{many['p99_ms']:.2f} vs {one['p99_ms']:.2f} ms"
            )
        pairs = list(zip(rounds[one_name], rounds[multi_name], strict=True))
        ratios = [many["rps"] / one["rps"] for one, many in pairs]
        # What the machine allowed: the CPUs wrk left, against what one worker used.
        ceilings = [
            ((os.cpu_count() or 1) - many["driver_cpus"]) / max(one["server_cpus"], 1e-9)
            for one, many in pairs
        ]
        wrk_cpus = statistics.median(many["driver_cpus"] for _, many in pairs)
        print(
            f"concurrency 16, log_exposure=false: {args.workers} workers at "
            f"{statistics.median(ratios):.2f}x one worker's throughput, median of "
            f"{len(ratios)} alternating rounds ({', '.join(f'{r:.2f}' for r in ratios)}; "
            f"target >= 1.7x); unpinned, wrk shares the CPUs: it used {wrk_cpus:.2f} of "
            f"{os.cpu_count()}, so at most {statistics.median(ceilings):.2f}x one worker's "
            f"CPUs was free (median); CPU per request "
            f"{statistics.median(many['cpu_us'] for _, many in pairs):.0f} vs "
            f"{statistics.median(one['cpu_us'] for one, _ in pairs):.0f} µs"
        )


if __name__ == "__main__":
    main()
