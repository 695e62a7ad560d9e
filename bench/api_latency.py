"""Cardholder read latency: GET /v1/me/balance and /v1/me/ledger, idle and under feed load.

    .venv/bin/python bench/api_latency.py [--customers 20000] [--history 100000]
        [--clients 32] [--duration 15] [--warmup 3] [--gunicorn-workers 2] [--threads 4]
        [--feed 100000] [--feed-workers 2] [--loaders 4] [--rate 0] [--no-floor] [--explain]

1. Seeds a scratch database (customers with cards) and gives them ledger history the real way:
   --history transactions posted to POST /v1/transactions while `rewards worker` processes
   run, until no row is `received`; then VACUUM ANALYZE, as a long-running database would be.
2. Starts gunicorn (gthread, --gunicorn-workers x --threads) and mints HS256 cardholder JWTs
   for --clients distinct cardholders with history. Each cardholder is one keep-alive
   HTTP/1.1 connection requesting back to back (closed loop, like `wrk -c32`): --warmup
   seconds uncounted, then --duration seconds measured. Runs: /healthz (the server's floor,
   no auth and no database), /v1/me/balance, /v1/me/ledger?limit=20 and, with --rate, the
   balance open-loop at that many requests/s in total (latency counted from when each
   request was due). The clients are spread over --loaders processes using raw sockets, so
   the load generator's own cost stays small; its CPU is reported.
3. Measures /v1/me/balance again while the feed runs: --feed new transactions posted in
   5,000-row batches with the processor key (2 submitter threads) and --feed-workers
   workers processing them, closed-loop or, with --rate, at that same offered rate (so idle
   and loaded compare at equal load rather than both saturating the CPU). The window ends
   early if the feed finishes first; the feed is abandoned when the window ends.
4. Prints per run requests/s, p50/p90/p99/max latency and errors, and the cores used by
   gunicorn, this database's PostgreSQL backends, the workers, the load generator and
   everything else on the machine (other tenants), with CPU milliseconds per request; then
   the targets. --explain adds EXPLAIN ANALYZE of the statements behind both endpoints.
   Everything it started is stopped, the database dropped and the queue keys removed.

Targets (issue 2): balance p99 <= 25 ms and >= 800 requests/s with 32 concurrent cardholders;
balance p99 while the feed runs at most 2x the idle p99. In a closed loop the two are tied by
Little's law (requests/s = clients / mean latency): a p99 of 25 ms with 32 clients needs
well over 1,300 requests/s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import jwt
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

BATCH = 5000
P99_TARGET_MS = 25.0
RPS_TARGET = 800.0
LOADED_RATIO_TARGET = 2.0


# --- load generator -------------------------------------------------------------------------


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, bool]:
    """Send one request and read the whole response; (status, server keeps the connection)."""
    sock.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the headers")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" not in headers:
        raise ConnectionError("response without Content-Length")
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed mid-body")
        body += chunk
    return status, headers.get("connection") != "close"


def _once(sock: socket.socket | None, port: int, request: bytes) -> tuple[Any, str | None]:
    """One request on `sock` (connecting if needed); (socket to reuse or None, error or None)."""
    try:
        if sock is None:
            sock = _connect(port)
        status, keep = _exchange(sock, request)
        if not keep:
            sock.close()
            sock = None
        return sock, None if status == 200 else f"HTTP {status}"
    except OSError as exc:
        if sock is not None:
            sock.close()
        return None, type(exc).__name__


def _client(
    port: int, token: str, path: str, window: tuple[float, float, float], out: dict[str, Any]
) -> None:
    """One cardholder on a keep-alive connection until the window's end.

    `window` is (counted_from, until, interval). With interval 0 the requests go back to back
    (closed loop: measures capacity); otherwise one request is due every `interval` seconds and
    its latency counts from when it was due, so a slow server is not let off by sending less.
    """
    counted_from, until, interval = window
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    latencies: list[tuple[float, float]] = []  # (finished, seconds taken)
    errors: dict[str, int] = {}
    sock = None
    due = time.monotonic() + random.random() * interval
    for _ in range(10_000_000):  # bounded; the clock below ends the loop
        if interval:
            time.sleep(max(0.0, due - time.monotonic()))
        started = due if interval else time.monotonic()
        if started >= until:
            break
        sock, error = _once(sock, port, request)
        finished = time.monotonic()
        due += interval
        if started < counted_from or finished > until:
            continue
        if error:
            errors[error] = errors.get(error, 0) + 1
        else:
            latencies.append((finished, finished - started))
    if sock is not None:
        sock.close()
    out["latencies"] = latencies
    out["errors"] = errors


def _loader(
    port: int, tokens: list[str], path: str, window: tuple[float, float, float]
) -> tuple[list[tuple[float, float]], dict[str, int], float]:
    """A load-generator process: one thread per cardholder in `tokens`; also its CPU seconds."""
    results: list[dict[str, Any]] = [{} for _ in tokens]
    threads = [
        threading.Thread(target=_client, args=(port, t, path, window, r))
        for t, r in zip(tokens, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, window[0] - time.monotonic()))
    cpu = time.process_time()
    for thread in threads:
        thread.join()
    cpu = time.process_time() - cpu
    latencies: list[tuple[float, float]] = []
    errors: dict[str, int] = {}
    for result in results:
        latencies.extend(result["latencies"])
        for name, count in result["errors"].items():
            errors[name] = errors.get(name, 0) + count
    return latencies, errors, cpu


@dataclass
class Run:
    """One measured run of one endpoint."""

    label: str
    window: float
    latencies: list[float]
    errors: dict[str, int] = field(default_factory=dict)
    cpu: str = ""

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.window if self.window > 0 else 0.0

    def pct(self, q: float) -> float:
        """Nearest-rank percentile in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, int(q / 100 * len(ordered) + 0.999999) - 1))
        return ordered[rank] * 1000

    def line(self) -> str:
        errors = sum(self.errors.values())
        detail = f" {self.errors}" if errors else ""
        return (
            f"{self.label:<24} {len(self.latencies):>7,} ok {self.rps:>6,.0f} req/s  "
            f"p50 {self.pct(50):6.1f}  p90 {self.pct(90):6.1f}  p99 {self.pct(99):6.1f}  "
            f"max {self.pct(100):6.1f} ms  errors {errors}{detail}"
        )


# --- where the CPU goes ------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, reaped_children: bool = False) -> float:
    """CPU seconds of `pid` (plus its waited-for children, e.g. rq's forked work horses)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except FileNotFoundError:
        return []


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICK


@dataclass
class Machine:
    """The processes of this benchmark, to attribute CPU time per run."""

    gunicorn: int
    database_url: str
    workers: list[int] = field(default_factory=list)

    def snapshot(self) -> dict[str, float]:
        with _pg(self.database_url) as conn:
            backends = [
                r[0]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                ).fetchall()
            ]
        return {
            "machine": _machine_busy(),
            "gunicorn": sum(_proc_cpu(p) for p in [self.gunicorn, *_children(self.gunicorn)]),
            "postgres": sum(_proc_cpu(p) for p in backends),
            "workers": sum(_proc_cpu(p, reaped_children=True) for p in self.workers),
        }


def cpu_line(before: dict[str, float], after: dict[str, float], loaders: float, run: Run) -> str:
    """Cores busy during the window, by process group, and the API's CPU per request."""
    used = {k: (after[k] - before[k]) / run.window for k in before} if run.window else {}
    if not used:
        return "  cpu: no measured window"
    used["loadgen"] = loaders / run.window
    other = used["machine"] - sum(v for k, v in used.items() if k != "machine")
    per_request = used["gunicorn"] / run.rps * 1000 if run.rps else float("nan")
    pg_request = used["postgres"] / run.rps * 1000 if run.rps else float("nan")
    parts = ", ".join(f"{k} {used[k]:.2f}" for k in ("gunicorn", "postgres", "workers", "loadgen"))
    return (
        f"  cpu (cores busy): machine {used['machine']:.2f} of {os.cpu_count()} = {parts}, "
        f"other {max(0.0, other):.2f}; per request: gunicorn {per_request:.2f} ms, "
        f"postgres {pg_request:.2f} ms"
    )


@dataclass
class Target:
    """What every run shares: the server, the cardholders and the load generator."""

    pool: Any
    port: int
    tokens: list[str]
    loaders: int
    warmup: float
    duration: float
    machine: Machine
    interval: float = 0.0  # seconds between one cardholder's requests; 0 = back to back


def measure(
    target: Target, path: str, label: str, stop_early: threading.Event | None = None
) -> Run:
    """Run the clients against `path`; count only requests inside the measured window."""
    counted_from = time.monotonic() + 0.5 + target.warmup  # 0.5 s for the loaders to start
    until = counted_from + target.duration
    shares = [target.tokens[i :: target.loaders] for i in range(target.loaders)]
    pending = [
        target.pool.apply_async(
            _loader, (target.port, share, path, (counted_from, until, target.interval))
        )
        for share in shares
        if share
    ]
    time.sleep(max(0.0, counted_from - time.monotonic()))
    before = target.machine.snapshot()
    if stop_early is None:
        time.sleep(max(0.0, until - time.monotonic()))
    while stop_early is not None and not stop_early.is_set() and time.monotonic() < until:
        stop_early.wait(0.05)
    ended = min(until, time.monotonic())
    after = target.machine.snapshot()
    timed: list[tuple[float, float]] = []
    errors: dict[str, int] = {}
    loaders_cpu = 0.0
    for result in pending:
        part, errs, cpu = result.get(timeout=target.duration + target.warmup + 120)
        timed.extend(part)
        loaders_cpu += cpu
        for name, count in errs.items():
            errors[name] = errors.get(name, 0) + count
    # Requests that finished after the feed ended are not "under load": keep the window honest.
    # (Errors are not timestamped; they are all counted.)
    if ended < until - 0.1:
        print(f"  ({label}: counting only the {ended - counted_from:.1f}s the feed was running)")
        loaders_cpu *= (ended - counted_from) / target.duration
    latencies = [seconds for finished, seconds in timed if finished <= ended]
    run = Run(label, max(0.0, ended - counted_from), latencies, errors)
    run.cpu = cpu_line(before, after, loaders_cpu, run)
    print(run.line(), flush=True)
    print(run.cpu, flush=True)
    return run


# --- data and processes ------------------------------------------------------------------------


def measure_over(
    base: str,
    gunicorn: Any,
    database_url: str,
    tokens: list[str],
    path: str,
    label: str,
    *,
    loaders: int,
    warmup: float,
    duration: float,
    rate: float = 0.0,
) -> Run:
    """`measure` with its own loader pool: one keep-alive client per token against `path`,
    back to back or, with `rate`, at that many requests/s in total."""
    with multiprocessing.Pool(loaders) as pool:
        target = Target(
            pool=pool,
            port=int(base.rsplit(":", 1)[1]),
            tokens=tokens,
            loaders=loaders,
            warmup=warmup,
            duration=duration,
            machine=Machine(gunicorn=gunicorn.pid, database_url=database_url),
            interval=len(tokens) / rate if rate else 0.0,
        )
        return measure(target, path, label)


def _pg(database_url: str) -> psycopg.Connection:
    return psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True)


@dataclass
class Feed:
    """Transactions posted in 5,000-row batches by two threads; `done` once all are processed
    (or `cancel` is set: the loaded run has ended and the rest need not be waited for)."""

    base: str
    key: str
    rows: list[dict[str, Any]]
    database_url: str
    accepted: int = 0
    first_accepted: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    cancel: threading.Event = field(default_factory=threading.Event)
    processed: int = 0
    failure: list[BaseException] = field(default_factory=list)
    started: float = 0.0
    submitted_at: float = 0.0
    finished_at: float = 0.0

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        try:
            self._submit_and_wait()
        except BaseException as exc:  # reported by the main thread
            self.failure.append(exc)
            self.first_accepted.set()
            self.done.set()

    def _submit_and_wait(self) -> None:
        batches: Queue = Queue()
        for start in range(0, len(self.rows), BATCH):
            batches.put(self.rows[start : start + BATCH])
        lock = threading.Lock()
        headers = {"Authorization": f"Bearer {self.key}"}

        def submit() -> None:
            while not self.cancel.is_set():
                try:
                    batch = batches.get_nowait()
                except Empty:
                    return
                status, body = common.post_json(
                    f"{self.base}/v1/transactions", {"transactions": batch}, headers
                )
                assert status == 202, body
                with lock:
                    self.accepted += body["accepted"]
                self.first_accepted.set()

        with _pg(self.database_url) as conn:
            before = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
        self.started = time.monotonic()
        submitters = [threading.Thread(target=submit) for _ in range(2)]
        for thread in submitters:
            thread.start()
        for thread in submitters:
            thread.join()
        self.submitted_at = time.monotonic()
        with _pg(self.database_url) as conn:
            for _ in range(36_000):  # at most an hour
                received, total = conn.execute(
                    "SELECT count(*) FILTER (WHERE status = 'received'), count(*) FROM transactions"
                ).fetchone()
                self.processed = total - received - before
                if received == 0 or self.cancel.is_set():
                    break
                time.sleep(0.2)
        self.finished_at = time.monotonic()
        self.done.set()


def build_history(
    env: dict[str, str], base: str, key: str, tokens: list[str], args: argparse.Namespace
) -> None:
    rows = list(common.transactions(args.history, tokens, seed=11, prefix="hist"))
    workers = common.start_workers(env, args.feed_workers)
    try:
        feed = Feed(base=base, key=key, rows=rows, database_url=env["DATABASE_URL"])
        feed.start().join()
        if feed.failure:
            raise feed.failure[0]
    finally:
        common.stop(workers)
    elapsed = feed.finished_at - feed.started
    with _pg(env["DATABASE_URL"]) as conn:
        started = time.monotonic()
        for table in ("ledger_entries", "accounts", "transactions", "customers", "cards"):
            conn.execute(f"VACUUM ANALYZE {table}")
        vacuum = time.monotonic() - started
        entries, accounts = conn.execute(
            "SELECT count(*), count(DISTINCT account_id) FROM ledger_entries"
        ).fetchone()
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM transactions GROUP BY status").fetchall()
        )
    print(
        f"history: {feed.accepted:,} transactions processed in {elapsed:.1f}s "
        f"({feed.accepted / elapsed:,.0f}/s), statuses {statuses}"
    )
    print(
        f"history: {entries:,} ledger entries over {accounts:,} accounts; "
        f"VACUUM ANALYZE {vacuum:.1f}s"
    )


def pick_cardholders(database_url: str, count: int) -> list[str]:
    """`count` distinct cardholders with ledger history, typical ones (median entry count)."""
    with _pg(database_url) as conn:
        rows = conn.execute(
            "SELECT c.external_ref, count(*) AS n FROM ledger_entries e "
            "JOIN accounts a ON a.id = e.account_id JOIN customers c ON c.id = a.customer_id "
            "GROUP BY c.external_ref ORDER BY md5(c.external_ref) LIMIT %s",
            (count,),
        ).fetchall()
    if len(rows) < count:
        raise SystemExit(f"only {len(rows)} customers have ledger history; need {count}")
    counts = sorted(n for _, n in rows)
    print(
        f"cardholders: {count} with {counts[0]}..{counts[-1]} ledger entries each "
        f"(median {counts[len(counts) // 2]})"
    )
    return [ref for ref, _ in rows]


def mint(ref: str) -> str:
    claims = {
        "sub": ref,
        "program": "bench",
        "roles": ["cardholder"],
        "iat": int(time.time()),
        "exp": int(time.time()) + 3600,
    }
    return jwt.encode(claims, common.JWT_SECRET, algorithm="HS256")


def check_tokens(base: str, tokens: list[str]) -> None:
    """Every cardholder sees a balance and a non-empty history before anything is timed."""
    for token in tokens:
        for path in ("/v1/me/balance", "/v1/me/ledger?limit=20"):
            request = urllib.request.Request(
                base + path, headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                body = json.loads(response.read())
            if path.startswith("/v1/me/ledger") and not body["data"]:
                raise SystemExit("a benchmark cardholder has an empty ledger")


# --- report ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def summary(args: argparse.Namespace, runs: dict[str, Run], feed: Feed | None) -> None:
    balance, ledger, loaded = runs["balance"], runs["ledger"], runs.get("loaded")
    print()
    print("=" * 100)
    print(
        f"api_latency: {args.clients} cardholders (keep-alive), {args.customers:,} customers, "
        f"{args.history:,} history transactions; gunicorn gthread "
        f"{args.gunicorn_workers} workers x {args.threads} threads; "
        f"{args.warmup:g}s warm-up + {args.duration:g}s per run; {os.cpu_count()} CPUs"
    )
    print("-" * 100)
    for run in runs.values():
        print(run.line())
        print(run.cpu)
    if feed is not None and feed.finished_at:
        elapsed = feed.finished_at - feed.started
        print(
            f"feed during the loaded run: {feed.accepted:,} transactions accepted, "
            f"{feed.processed:,} processed in {elapsed:.1f}s ({feed.processed / elapsed:,.0f}/s) "
            f"by {args.feed_workers} workers"
        )
    print("-" * 100)
    p99 = balance.pct(99)
    print(f"balance p99 {p99:.1f} ms <= {P99_TARGET_MS:g} ms: {verdict(p99 <= P99_TARGET_MS)}")
    print(
        f"balance {balance.rps:,.0f} req/s >= {RPS_TARGET:g}: {verdict(balance.rps >= RPS_TARGET)}"
    )
    print(f"ledger p99 {ledger.pct(99):.1f} ms, {ledger.rps:,.0f} req/s (no target)")
    if "paced" in runs:
        paced = runs["paced"]
        print(f"balance p99 at {args.rate:g}/s offered {paced.pct(99):.1f} ms (open loop)")
    if loaded is not None:
        idle = runs.get("paced", balance)  # same offered load as the loaded run
        ratio = loaded.pct(99) / idle.pct(99)
        print(
            f"balance p99 under feed load {loaded.pct(99):.1f} ms = {ratio:.2f}x idle "
            f"<= {LOADED_RATIO_TARGET:g}x: {verdict(ratio <= LOADED_RATIO_TARGET)}"
        )
    errors = sum(sum(run.errors.values()) for run in runs.values())
    print(f"errors: {errors}")
    print("=" * 100)


EXPLAINED = {
    "program by slug (every JWT)": "SELECT * FROM programs WHERE slug = 'bench'",
    "account and zone": (
        "SELECT c.id, a.*, p.timezone FROM customers c JOIN programs p ON p.id = c.program_id "
        "LEFT JOIN accounts a ON a.customer_id = c.id "
        "WHERE c.program_id = {program} AND c.external_ref = '{ref}' AND c.status <> 'erased'"
    ),
    "open lots": (
        "SELECT state, remaining, available_at, expires_at FROM ledger_entries "
        "WHERE account_id = {account} AND remaining > 0 "
        "AND (state = 'pending' OR expires_at <= now() + interval '30 days')"
    ),
    "ledger page": (
        "SELECT e.*, t.external_id, t.merchant_name FROM ledger_entries e "
        "LEFT JOIN transactions t ON t.id = e.transaction_id WHERE e.account_id = {account} "
        "ORDER BY e.id DESC LIMIT 21"
    ),
}


def explain(database_url: str, ref: str) -> None:
    """EXPLAIN ANALYZE of the statements behind the two endpoints, for one cardholder."""
    with _pg(database_url) as conn:
        program, account = conn.execute(
            "SELECT c.program_id, a.id FROM customers c JOIN accounts a ON a.customer_id = c.id "
            "WHERE c.external_ref = %s",
            (ref,),
        ).fetchone()
        for name, sql in EXPLAINED.items():
            statement = sql.format(program=program, ref=ref, account=account)
            plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}").fetchall()
            print(f"explain: {name} ({ref})")
            for (line,) in plan:
                print(f"    {line}")


# --- main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--history", type=int, default=100_000, help="transactions before")
    parser.add_argument("--clients", type=int, default=32, help="concurrent cardholders")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="uncounted seconds per run")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument(
        "--feed-nice",
        type=int,
        default=10,
        help="CPU niceness of the feed's workers and ingest server (0: same priority as the API)",
    )
    parser.add_argument(
        "--feed-server",
        choices=("separate", "shared"),
        default="separate",
        help="post the loaded run's feed to its own gunicorn (as deployed) or the same one",
    )
    parser.add_argument(
        "--feed", type=int, default=100_000, help="transactions during load (0: no loaded run)"
    )
    parser.add_argument("--feed-workers", type=int, default=2, help="rewards worker processes")
    parser.add_argument("--loaders", type=int, default=4, help="load-generator processes")
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="also run the balance open-loop at this many requests/s in total, and make the "
        "loaded run open-loop at the same rate (0: off, all runs closed-loop)",
    )
    parser.add_argument(
        "--pending-days", type=int, default=0, help="the program's hold before points release"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the /healthz run")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the queries")
    args = parser.parse_args()
    if not 1 <= args.clients <= 1000 or not 0 < args.duration <= 300 or args.warmup < 0:
        parser.error("--clients 1..1000 and --duration up to 300 s")
    return args


def measure_all(
    args: argparse.Namespace, target: Target, env: dict[str, str], feed: Feed | None
) -> dict[str, Run]:
    runs: dict[str, Run] = {}
    if not args.no_floor:
        runs["floor"] = measure(target, "/healthz", "healthz (no auth, no db)")
    runs["balance"] = measure(target, "/v1/me/balance", "balance idle")
    runs["ledger"] = measure(target, "/v1/me/ledger?limit=20", "ledger?limit=20 idle")
    if args.rate:
        target.interval = len(target.tokens) / args.rate
        runs["paced"] = measure(target, "/v1/me/balance", f"balance {args.rate:g}/s offered")
    if feed is not None:
        workers = common.start_workers(env, args.feed_workers, nice=args.feed_nice)
        target.machine.workers = [p.pid for p in workers]
        try:
            time.sleep(2)  # let the workers connect
            feed.start()
            feed.first_accepted.wait(120)
            label = f"balance {args.rate:g}/s + feed" if args.rate else "balance during feed"
            runs["loaded"] = measure(target, "/v1/me/balance", label, feed.done)
            feed.cancel.set()
            feed.done.wait(600)
        finally:
            common.stop(workers)
        if feed.failure:
            raise feed.failure[0]
    return runs


def run(args: argparse.Namespace, env: dict[str, str], database_url: str) -> None:
    gunicorn = feed_gunicorn = None
    try:
        key, card_tokens = common.seed(env, database_url, args.customers)
        if args.pending_days:
            with _pg(database_url) as conn:
                conn.execute(
                    "UPDATE programs SET pending_days = %s WHERE slug = 'bench'",
                    (args.pending_days,),
                )
        print(
            f"seed: {args.customers:,} customers with cards; "
            f"points pending for {args.pending_days} days"
        )
        gunicorn, base = common.start_gunicorn(env, args.gunicorn_workers, args.threads)
        print(
            f"gunicorn: {args.gunicorn_workers} workers x {args.threads} threads (gthread), "
            f"{base}; {args.loaders} load-generator processes"
        )
        build_history(env, base, key, card_tokens, args)
        refs = pick_cardholders(database_url, args.clients)
        tokens = [mint(ref) for ref in refs]
        check_tokens(base, tokens)
        feed = None
        if args.feed:
            rows = list(common.transactions(args.feed, card_tokens, seed=12, prefix="feed"))
            feed_base = base
            if args.feed_server == "separate":
                # As deployed: processor ingest on its own gunicorn, so big batch bodies are
                # never parsed by the processes that answer cardholders.
                feed_gunicorn, feed_base = common.start_gunicorn(env, 1, 1, nice=args.feed_nice)
                print(f"gunicorn for the processor feed: 1 worker, {feed_base}")
            feed = Feed(base=feed_base, key=key, rows=rows, database_url=database_url)
        with multiprocessing.get_context("spawn").Pool(args.loaders) as pool:
            target = Target(
                pool=pool,
                port=int(base.rsplit(":", 1)[1]),
                tokens=tokens,
                loaders=args.loaders,
                warmup=args.warmup,
                duration=args.duration,
                machine=Machine(gunicorn=gunicorn.pid, database_url=database_url),
            )
            runs = measure_all(args, target, env, feed)
        summary(args, runs, feed)
        if args.explain:
            explain(database_url, refs[0])
    finally:
        common.stop([p for p in (gunicorn, feed_gunicorn) if p is not None])


def main() -> None:
    args = parse_args()
    name = f"rewards_latency_{os.getpid()}"
    database_url = common.recreate_database(name).replace("postgresql://", "postgresql+psycopg://")
    prefix = f"latency{os.getpid()}"
    env = common.env_for(database_url, prefix)
    try:
        run(args, env, database_url)
    finally:
        common.flush_redis_prefix(prefix)
        common.drop_database(name)


if __name__ == "__main__":
    main()
