#!/usr/bin/env python3
"""The one benchmark runner of libasyncrt (workloads: shared BENCH.md).

    python3 bench/run.py [--no-peers] [--quick] [--iters K] [--reps R] [workload ...]

1. Builds what it needs that is missing or stale: the Tokio and Go peers (installing
   their Debian toolchains with apt when absent), the tcp_echo load generator, and for
   file_read fio (apt) and the file: 256 MiB of random bytes in a temporary folder under
   bench/results/, read warm from the page cache by every implementation, removed at
   the end. A peer (or fio) that cannot be installed or built is reported as missing,
   with the reason, and the run carries on. closure_call is libasyncrt's alone: it has
   no peer, and the report says so. libasyncrt's own programs are expected in
   <build-dir>/bench/bench_<workload> or <build-dir>/bench/*/bench_<workload> (the meson
   build is not this script's business); one that does not exist is reported as missing.
2. Runs every selected workload for every implementation, interleaved: each repetition
   runs every (workload, impl) once, with the order of the implementations rotated, so
   that drift of this noisy 2-core machine hits all of them alike.
3. Writes bench/results/<timestamp>/{report.md,report.csv,plot.png} (plus the raw output
   of every run under logs/) and copies that folder to bench/results/latest/.

Exit status: 0 iff every libasyncrt workload that exists ran (every repetition produced
its figures). Python standard library only.
"""

import argparse
import csv
import datetime
import glob
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from server_proc import free_port, stop

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TOKIO_DIR = BENCH / "peers" / "tokio"
TOKIO_BIN = TOKIO_DIR / "target" / "release" / "peer-tokio"
GO_DIR = BENCH / "peers" / "go"
GO_BIN = GO_DIR / "peer-go"
LOADGEN_SRC = BENCH / "loadgen" / "loadgen.c"
LOADGEN_BIN = BENCH / "loadgen" / "loadgen"
# The tcp_echo floor: a bare liburing echo server with no runtime (bench/loadgen/bare_echo.c).
BARE_SRC = BENCH / "loadgen" / "bare_echo.c"
BARE_BIN = BENCH / "loadgen" / "bare_echo"
RESULTS = BENCH / "results"

IMPLS = ["asyncrt", "tokio", "go", "fio", "bare-uring"]
MICRO = ["spawn_many", "yield_many", "ping_pong", "chained_spawn"]
# Workloads whose single iteration is expensive (a million tasks, or seconds of load):
# they run fewer repetitions, and memory ones have one iteration per process.
HEAVY = ["idle_task_memory", "timers", "tcp_echo"]
SYNC = ["mpsc", "mutex"]  # channels and locks (bench/mpsc.c, bench/mutex.c define them)
# libasyncrt-only workloads: no peer has a counterpart (async closures are ours).
ASYNCRT_ONLY = ["closure_call"]
# ---- kv (issue 7): the RESP2 server against redis-server; bench/kv_bench.py runs it on
# its own (two servers and redis-benchmark, not the per-implementation programs above).
KV = ["kv"]
# ---- http (issue 7): the HTTP server against nginx, run by bench/http_bench.py after
# the other workloads; its section is appended to the report.
HTTP_WORKLOAD = "http"
WORKLOADS = MICRO + HEAVY + ["file_read"] + SYNC + ASYNCRT_ONLY + KV + [HTTP_WORKLOAD]
TCP_DEPTHS = [1, 16]  # requests in flight per connection (BENCH.md)
# Implementations that exist for some workloads only (fio reads files and nothing else).
ONLY_FOR = {"fio": ["file_read"], "bare-uring": ["tcp_echo"]}
FILE_READ_SIZE = 256 << 20  # BENCH.md
# closure_call's figures: (metric, label, issue 5's target as ns over the plain future).
CLOSURE_VARIANTS = [("closure_call_plain", "plain future (same body)", None),
                    ("closure_call_once", "ar_call_once (ONCE)", 5),
                    ("closure_call_mut", "ar_call_mut (MUT)", 5),
                    ("closure_call_fn", "ar_call (FN)", 15),
                    ("closure_call_fn_contended", "ar_call (FN), one closure, all workers", None),
                    ("closure_call_atomic_floor", "one CAS + store alone (reference)", None)]


def applies(impl, workload):
    """Whether implementation `impl` has a program for `workload` at all."""
    if workload in ASYNCRT_ONLY:
        return impl == "asyncrt"
    return workload in ONLY_FOR.get(impl, [workload])


# The figures (the `workload=` names of the result lines) each workload produces, in
# report order, with their unit and whether a higher value is better.
def metrics_of(workload):
    if workload == "timers":
        return [("timers", "ns/timer", False), ("timers_memory", "B/timer", False)]
    if workload == "tcp_echo":
        out = []
        for d in TCP_DEPTHS:
            name = f"tcp_echo_d{d}"
            out += [(name, "req/s", True), (name + "_p50", "us", False),
                    (name + "_p99", "us", False), (name + "_cpu", "us/req", False)]
        return out
    if workload == "file_read":
        # CPU ms (user + system, all threads) per GiB read: less at the mercy of other
        # load on a shared machine than the wall-clock MiB/s.
        return [("file_read", "MiB/s", True), ("file_read_cpu", "ms/GiB", False)]
    if workload == "closure_call":
        return [(m, "ns/call", False) for m, _, _ in CLOSURE_VARIANTS]
    if workload == "mpsc":
        return [("mpsc_p1", "msg/s", True), ("mpsc_p2", "msg/s", True)]
    if workload == "mutex":
        return [("mutex_contended", "ns/lock", False), ("mutex_uncontended", "ns/lock", False),
                ("mutex_blocking", "ns/lock", False)]
    unit = {"spawn_many": "ns/task", "yield_many": "ns/yield", "ping_pong": "ns/roundtrip",
            "chained_spawn": "ns/spawn", "idle_task_memory": "B/task"}[workload]
    return [(workload, unit, False)]


LINE_RE = re.compile(r"^workload=(\S+) impl=(\S+) threads=(\d+) value=(\S+) unit=(\S+)\s*$")
COLORS = {"asyncrt": "#1f77b4", "tokio": "#d62728", "go": "#2ca02c", "fio": "#9467bd", "bare-uring": "#7f7f7f"}


def log(msg):
    """Progress goes to stderr so that stdout stays free for a caller."""
    print(msg, file=sys.stderr, flush=True)


def rel(path):
    """Paths in the report are relative to the repository root, as one types them there."""
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return str(path)


def tail(text, lines=6):
    text = (text or "").strip().splitlines()
    return " / ".join(line.strip() for line in text[-lines:]) or "(no output)"


# ---------------------------------------------------------------------------------------
# Toolchains and builds
# ---------------------------------------------------------------------------------------

class Builder:
    """Installs Debian packages on demand and builds the peers and the load generator.

    Every step returns None on success or a one-line reason, which the report shows in
    place of the figures the missing piece would have produced.
    """

    def __init__(self, logdir):
        self.logdir = logdir
        self.apt_updated = False
        self.versions = {}  # tool -> version line, for the report

    def sh(self, argv, cwd=ROOT, env=None, name=None, timeout=1800):
        """Runs a build step, keeping its whole output in logs/build-<name>.log."""
        try:
            proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=timeout)
            out, rc = proc.stdout, proc.returncode
        except FileNotFoundError as e:
            out, rc = str(e), 127
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
            out, rc = f"{out or ''}\ntimed out after {timeout} s", 124
        if name:
            with open(self.logdir / f"build-{name}.log", "a") as f:
                f.write(f"$ {shlex.join(map(str, argv))}\n{out}\n[exit {rc}]\n")
        return rc, out

    def apt_install(self, packages):
        """apt-get install; on failure, `apt-get update` (once per run) and one retry."""
        if shutil.which("apt-get") is None:
            return "apt-get not available to install " + " ".join(packages)
        if os.geteuid() != 0:
            return "not root: cannot apt-get install " + " ".join(packages)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
        log(f"  apt-get install {' '.join(packages)}")
        rc, out = self.sh(argv, env=env, name="apt")
        if rc != 0 and not self.apt_updated:
            self.apt_updated = True
            self.sh(["apt-get", "update", "-q"], env=env, name="apt")
            rc, out = self.sh(argv, env=env, name="apt")
        return None if rc == 0 else f"apt-get install {' '.join(packages)} failed: {tail(out, 2)}"

    def find_tool(self, name, candidates, package):
        """First working tool among PATH and known locations, installing `package` if none."""
        def usable():
            for c in [shutil.which(name), *candidates]:
                if c and os.access(c, os.X_OK):
                    rc, out = self.sh([c, "version" if name == "go" else "--version"])
                    if rc == 0:
                        self.versions[name] = out.strip().splitlines()[0]
                        return c
            return None
        tool = usable()
        if tool:
            return tool, None
        why = self.apt_install([package])
        tool = usable()
        return tool, (None if tool else (why or f"{name} still not found after installing {package}"))

    def build_tokio(self):
        # rustup's cargo where it exists (it is here); Debian's `cargo` package on a fresh
        # machine. Both build tokio 1.24 from Debian's crates (see .cargo/config.toml).
        cargo, why = self.find_tool("cargo", [str(Path.home() / ".cargo/bin/cargo"),
                                              "/root/.cargo/bin/cargo", "/usr/bin/cargo"], "cargo")
        if why:
            return why
        registry = "/usr/share/cargo/registry"
        if not glob.glob(f"{registry}/tokio-1.24*") or not glob.glob(f"{registry}/libc-0.2*"):
            why = self.apt_install(["librust-tokio-dev", "librust-libc-dev"])
            if why:
                return why
        tokio = sorted(glob.glob(f"{registry}/tokio-1.24*"))
        self.versions["tokio"] = Path(tokio[-1]).name if tokio else "?"
        rustc = Path(cargo).with_name("rustc")
        rc, out = self.sh([str(rustc) if rustc.exists() else "rustc", "--version"])
        if rc == 0:
            self.versions["rustc"] = out.strip()
        # Cargo.lock is not kept: the directory source holds one version of each crate, so
        # resolution is fixed anyway, and a lock written by rustup's cargo (format 4) is
        # one that Debian's cargo cannot read.
        (TOKIO_DIR / "Cargo.lock").unlink(missing_ok=True)
        # cargo rebuilds only what changed, so running it every time keeps the binary current.
        rc, out = self.sh([cargo, "build", "--release", "--offline"], cwd=TOKIO_DIR, name="tokio")
        if rc != 0 or not TOKIO_BIN.exists():
            return f"cargo build failed (logs/build-tokio.log): {tail(out, 3)}"
        return None

    def go_env(self):
        env = dict(os.environ)
        # Never reach for a network: no module proxy, no toolchain download (Go >= 1.21).
        env.update(GOPROXY="off", GOTOOLCHAIN="local", GOFLAGS="", GO111MODULE="on")
        if "HOME" not in env and "GOCACHE" not in env:
            env["GOCACHE"] = "/tmp/asyncrt-bench-gocache"
        return env

    def build_go(self):
        go, why = self.find_tool("go", ["/usr/lib/go/bin/go", "/usr/lib/go-1.19/bin/go"],
                                 "golang-go")
        if why:
            return why
        rc, out = self.sh([go, "build", "-o", str(GO_BIN), "."], cwd=GO_DIR, env=self.go_env(),
                          name="go")
        if rc != 0 or not GO_BIN.exists():
            return f"go build failed (logs/build-go.log): {tail(out, 3)}"
        return None

    def build_loadgen(self):
        cc, why = self.find_tool("cc", ["/usr/bin/gcc"], "gcc")
        if why:
            return why
        if not Path("/usr/include/liburing.h").exists():
            why = self.apt_install(["liburing-dev"])
            if why:
                return why
        rc, out = self.sh(["dpkg-query", "-W", "-f", "${Version}", "liburing-dev"])
        self.versions["liburing"] = out.strip() if rc == 0 else "?"
        for src, binary in ((BARE_SRC, BARE_BIN), (LOADGEN_SRC, LOADGEN_BIN)):
            why = self.build_c(cc, src, binary)
            if why:
                return why
        return None

    def build_c(self, cc, src, binary):
        """One single-file liburing program of bench/loadgen, rebuilt when its source changed."""
        if binary.exists() and binary.stat().st_mtime >= src.stat().st_mtime:
            return None
        rc, out = self.sh([cc, "-O3", "-Wall", "-Wextra", "-o", str(binary),
                           str(src), "-luring"], name=binary.name)
        if rc != 0:
            return f"cc failed (logs/build-{binary.name}.log): {tail(out, 3)}"
        return None

    def find_fio(self):
        return self.find_tool("fio", ["/usr/bin/fio"], "fio")

    def find_gnuplot(self):
        return self.find_tool("gnuplot", ["/usr/bin/gnuplot"], "gnuplot-nox")


# ---------------------------------------------------------------------------------------
# Implementations and single runs
# ---------------------------------------------------------------------------------------

class Impl:
    """One implementation: how to invoke it for a workload, or why it cannot run."""

    def __init__(self, name, build_dir=None, binary=None, missing=None):
        self.name = name
        self.build_dir = build_dir
        self.binary = binary
        self.missing = missing  # reason the whole implementation is unavailable

    def argv(self, workload):
        """(argv prefix, None) or (None, reason). Options are appended by the caller."""
        if self.missing:
            return None, self.missing
        if self.name == "asyncrt":
            # One program per workload: build/bench/bench_<workload> --threads N ...
            prog = self.build_dir / "bench" / f"bench_{workload}"
            # Some live in a subfolder (bench/closures/bench_closure_call).
            prog = next(iter(sorted(self.build_dir.glob(f"bench/*/bench_{workload}"))), prog) \
                if not prog.exists() else prog
            if not (prog.is_file() and os.access(prog, os.X_OK)):
                return None, f"{rel(prog)} not built"
            return [str(prog)], None
        if self.name in ("fio", "bare-uring"):
            return [str(self.binary)], None
        # The peers are one program each that takes the workload as first argument.
        return [str(self.binary), workload], None


def run_proc(argv, timeout, env=None):
    """Runs one benchmark process in its own session, killing the whole group on timeout.

    Returns (exit code or None on timeout, stdout, stderr, seconds).
    """
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        rc = None
    return rc, out, err, time.monotonic() - start


def parse_lines(out, impl, expected):
    """The result lines of one run: ({metric: [values]}, {metric: unit}, problem or None)."""
    values, units, problem = {}, {}, None
    for line in out.splitlines():
        m = LINE_RE.match(line.strip())
        if not m:
            continue
        metric, who, _threads, value, unit = m.groups()
        if who != impl:
            problem = f"printed impl={who}, expected impl={impl}"
            continue
        try:
            v = float(value)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            problem = f"non-numeric value {value!r} for {metric}"
            continue
        values.setdefault(metric, []).append(v)
        units[metric] = unit
    missing = [m for m in expected if m not in values]
    if missing and not problem:
        problem = "no result line for " + ", ".join(missing)
    return values, units, problem


def wait_listening(proc, port, deadline_s=15.0):
    """Waits until the server accepts on 127.0.0.1:port; None or the reason it did not."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return f"server exited with status {proc.returncode} before listening"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return None
        except OSError:
            time.sleep(0.05)
    return f"server not listening on port {port} after {deadline_s:.0f} s"


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------

class Runner:
    def __init__(self, args, impls, loadgen_missing, outdir, data_file=None):
        self.args = args
        self.data_file = data_file  # file_read's file, or the reason there is none
        self.impls = impls
        self.loadgen_missing = loadgen_missing
        self.outdir = outdir
        self.values = {}       # (metric, impl) -> [values]
        self.units = {}        # metric -> unit
        self.failures = {}     # (workload, impl) -> [reasons]
        self.missing = {}      # (workload, impl) -> reason it never ran
        self.commands = {}     # (workload, impl) -> reproduction command (text)
        self.attempts = {}     # (workload, impl) -> runs attempted
        cpus = sorted(os.sched_getaffinity(0))
        # BENCH.md: on 2 cores the fairest tcp_echo layout is server on CPU 0 and load
        # generator on CPU 1. With a single CPU there is nothing to pin.
        self.pin = (cpus[0], cpus[1]) if len(cpus) >= 2 and shutil.which("taskset") else None

    def iters_for(self, workload):
        if workload in ("idle_task_memory", "timers"):
            # One million tasks per iteration; growth is measured once per process.
            return 1
        return self.args.iters

    def log_run(self, tag, argv, rc, out, err, secs):
        with open(self.outdir / "logs" / f"{tag}.log", "a") as f:
            f.write(f"$ {shlex.join(argv)}\n[exit {rc}, {secs:.2f} s]\n--- stdout\n{out}"
                    f"--- stderr\n{err}\n")

    def record(self, workload, impl, values, units, problem):
        """Keeps the figures of a run that succeeded; a failed run contributes none (its
        output stays in logs/), so a crash or a hang cannot bias a median."""
        if problem:
            self.failures.setdefault((workload, impl), []).append(problem)
            return
        for metric, vs in values.items():
            self.values.setdefault((metric, impl), []).extend(vs)
            self.units[metric] = units[metric]

    def run_micro(self, workload, impl, prefix, tag):
        opts = ["--threads", str(self.args.threads), "--iters", str(self.iters_for(workload))]
        if workload == "file_read":
            opts += ["--file", str(self.data_file)]
        argv = prefix + opts
        cmd = shlex.join([rel(argv[0]), *argv[1:]])
        self.commands[(workload, impl.name)] = \
            cmd.replace(str(self.data_file), "$FILE") if workload == "file_read" else cmd
        rc, out, err, secs = run_proc(argv, self.args.timeout)
        self.log_run(tag, argv, rc, out, err, secs)
        expected = [m for m, _, _ in metrics_of(workload)]
        values, units, problem = parse_lines(out, impl.name, expected)
        if rc is None:
            problem = f"timed out after {self.args.timeout} s"
        elif rc != 0:
            problem = f"exit status {rc}: {tail(err, 2)}"
        self.record(workload, impl.name, values, units, problem)
        return secs, values, problem

    def run_tcp_echo(self, impl, prefix, tag):
        """One server per depth, pinned apart from the load generator; see BENCH.md."""
        total, all_values, problems = 0.0, {}, []
        threads = self.args.tcp_threads
        server_pin = ["taskset", "-c", str(self.pin[0])] if self.pin else []
        loadgen_pin = ["taskset", "-c", str(self.pin[1])] if self.pin else []
        for depth in TCP_DEPTHS:
            name = f"tcp_echo_d{depth}"
            proc, port, why = None, None, None
            server_log = self.outdir / "logs" / f"{tag}-d{depth}-server.log"
            for _attempt in range(3):  # a port can be taken between probe and bind: retry
                port = free_port()
                argv = server_pin + prefix + ["--threads", str(threads), "--port", str(port)]
                with open(server_log, "a") as slog:
                    slog.write(f"$ {shlex.join(argv)}\n")
                    slog.flush()
                    proc = subprocess.Popen(argv, cwd=ROOT, stdout=slog, stderr=slog,
                                            start_new_session=True)
                why = wait_listening(proc, port)
                if why is None:
                    break
                stop(proc, timeout=3)
                why = f"port {port}: {why} ({tail(server_log.read_text(), 1)})"
            if why:
                problems.append(why)
                continue
            def loadgen_args(port, pid):
                return ["--port", str(port), "--server-pid", str(pid), "--impl", impl.name,
                        "--threads", str(threads), "--conns", str(self.args.conns),
                        "--depth", str(depth), "--size", "64",
                        "--duration", str(self.args.duration),
                        "--warmup", str(self.args.warmup), "--workload", name]
            lg = loadgen_pin + [str(LOADGEN_BIN)] + loadgen_args(port, proc.pid)
            # The reproduction recipe: a shell snippet with the port left to the reader.
            server_cmd = [*server_pin, rel(prefix[0]), *prefix[1:], "--threads", str(threads),
                          "--port", "$PORT"]
            recipe = ("PORT=23456\n" + " ".join(server_cmd) + " &\n"
                      + " ".join([*loadgen_pin, rel(LOADGEN_BIN), *loadgen_args("$PORT", "$!")])
                      + "\nkill $!")
            recipes = self.commands.setdefault(("tcp_echo", impl.name), [])
            if recipe not in recipes:
                recipes.append(recipe)
            try:
                rc, out, err, secs = run_proc(lg, self.args.timeout)
            finally:
                stop(proc, timeout=3)
            total += secs
            self.log_run(f"{tag}-d{depth}", lg, rc, out, err, secs)
            expected = [m for m, _, _ in metrics_of("tcp_echo")
                        if m == name or m.startswith(name + "_")]
            values, units, problem = parse_lines(out, impl.name, expected)
            if rc is None:
                problem = f"load generator timed out after {self.args.timeout} s"
            elif rc != 0:
                problem = f"load generator exit status {rc}: {tail(err, 2)}"
            if problem:
                problems.append(f"depth {depth}: {problem}")
            else:  # figures of one depth stand on their own even if the other failed
                self.record("tcp_echo", impl.name, values, units, None)
            for k, v in values.items():
                all_values.setdefault(k, []).extend(v)
        problem = "; ".join(problems) or None
        if problem:
            self.failures.setdefault(("tcp_echo", impl.name), []).append(problem)
        return total, all_values, problem

    def run_fio(self, workload, impl, prefix, tag):
        """fio on file_read's file, warm page cache (invalidate=0): time-based, after a
        1 s ramp that is not counted, so its figure is a steady state like the other
        programs' passes after their warm-up ones. One figure per repetition."""
        secs = 1 if self.args.quick else 3
        argv = prefix + ["--name=file_read", f"--filename={self.data_file}",
                         "--ioengine=io_uring", "--rw=read", "--bs=64k", "--iodepth=32",
                         f"--size={FILE_READ_SIZE >> 20}M", "--invalidate=0", "--time_based",
                         f"--runtime={secs}", "--ramp_time=1", "--output-format=json"]
        self.commands[(workload, impl.name)] = shlex.join(
            [rel(argv[0]) if argv[0].startswith(str(ROOT)) else argv[0], *argv[1:]]).replace(
            str(self.data_file), "$FILE")
        rc, out, err, took = run_proc(argv, self.args.timeout)
        self.log_run(tag, argv, rc, out, err, took)
        values, problem = {}, None
        try:
            job = json.loads(out[out.index("{"):])["jobs"][0]
            if job.get("error") or job["read"]["io_bytes"] <= 0:
                problem = f"fio error {job.get('error')}, {job['read']['io_bytes']} bytes read"
            else:
                # fio's CPU figures are percentages of the measured (post-ramp) runtime.
                cpu_ms = (job["usr_cpu"] + job["sys_cpu"]) / 100 * job["job_runtime"]
                values = {"file_read": [job["read"]["bw_bytes"] / (1 << 20)],
                          "file_read_cpu": [cpu_ms / (job["read"]["io_bytes"] / (1 << 30))]}
        except (ValueError, KeyError, IndexError) as e:
            problem = f"no fio JSON ({e}): {tail(err or out, 2)}"
        if rc != 0:
            problem = f"exit status {rc}: {tail(err, 2)}"
        self.record(workload, impl.name, values,
                    {"file_read": "MiB/s", "file_read_cpu": "ms/GiB"}, problem)
        return took, values, problem

    def run(self, workloads):
        reps = self.args.reps
        plan = []
        for rep in range(reps):
            # Rotating the order puts each implementation first, middle and last in turn.
            order = self.impls[rep % len(self.impls):] + self.impls[:rep % len(self.impls)]
            for w in workloads:
                if w in HEAVY and rep >= self.args.heavy_reps:
                    continue
                plan += [(rep, w, impl) for impl in order if applies(impl.name, w)]
        runnable = []
        for rep, w, impl in plan:
            prefix, why = impl.argv(w)
            if why is None and w == "tcp_echo" and self.loadgen_missing:
                why = "load generator unavailable: " + self.loadgen_missing
            if why is None and w == "file_read" and isinstance(self.data_file, str):
                why = "no file to read: " + self.data_file
            if why:
                self.missing[(w, impl.name)] = why
            else:
                runnable.append((rep, w, impl, prefix))
        for (w, name), why in sorted(self.missing.items()):
            log(f"missing: {w} / {name}: {why}")
        n = len(runnable)
        for i, (rep, w, impl, prefix) in enumerate(runnable, 1):
            tag = f"{w}-{impl.name}-rep{rep + 1}"
            self.attempts[(w, impl.name)] = self.attempts.get((w, impl.name), 0) + 1
            log(f"[{i}/{n}] rep {rep + 1} {w} / {impl.name} ...")
            if w == "tcp_echo":
                secs, values, problem = self.run_tcp_echo(impl, prefix, tag)
            elif impl.name == "fio":
                secs, values, problem = self.run_fio(w, impl, prefix, tag)
            else:
                secs, values, problem = self.run_micro(w, impl, prefix, tag)
            shown = ", ".join(f"{m} {statistics.median(v):.4g} {self.units.get(m, '')}"
                              for m, v in values.items() if not m.endswith(("_p50", "_cpu")))
            status = f"FAILED: {problem}" if problem else "ok"
            log(f"[{i}/{n}]   {status}  {shown}  ({secs:.1f} s)")


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

def machine_info():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    osname = platform.system()
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(), "os": osname,
            "memory": mem}


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}"


def summarize(runner, workloads, impl_names):
    """Rows (workload, metric, unit, higher_better, impl, stats-or-None, ratio, note)."""
    rows = []
    for w in workloads:
        for metric, unit, higher in metrics_of(w):
            base = runner.values.get((metric, "asyncrt"))
            base_med = statistics.median(base) if base else None
            for name in [n for n in impl_names if applies(n, w)]:
                vs = runner.values.get((metric, name))
                notes = []
                if (w, name) in runner.missing:
                    notes.append("missing: " + runner.missing[(w, name)])
                fails = runner.failures.get((w, name), [])
                if fails:
                    notes.append(f"{len(fails)} of {runner.attempts.get((w, name), 0)} runs "
                                 f"failed: {fails[0]}")
                stats = None
                if vs:
                    med = statistics.median(vs)
                    stats = (med, min(vs), max(vs), len(vs))
                ratio = stats[0] / base_med if stats and base_med else None
                rows.append((w, metric, runner.units.get(metric, unit), higher, name, stats,
                             ratio, "; ".join(notes)))
    return rows


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["workload", "metric", "impl", "unit", "median", "min", "max", "n",
                      "ratio_to_asyncrt", "higher_is_better", "note"])
        for w, metric, unit, higher, name, stats, ratio, note in rows:
            med, lo, hi, n = stats if stats else ("", "", "", 0)
            out.writerow([w, metric, name, unit, med, lo, hi, n,
                          f"{ratio:.4f}" if ratio else "", int(higher), note])


def write_markdown(path, runner, rows, workloads, info, versions, argv, plot_note):
    args = runner.args
    lines = [
        "# libasyncrt benchmark report", "",
        f"- Date: {info['date']}",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; "
        f"{info['os']}, Linux {info['kernel']}",
        "- Toolchains: " + "; ".join(f"{k}: {v}" for k, v in sorted(versions.items())),
        f"- Command: `{shlex.join(['python3', 'bench/run.py', *argv])}`",
        f"- Method: {args.reps} repetitions per (workload, impl) ({args.heavy_reps} for "
        f"{', '.join(HEAVY)}), implementations interleaved round-robin with their order rotated "
        f"every repetition; {args.iters} measured iterations per process for the scheduler "
        f"workloads after 5 silent warm-up ones, 1 per process for idle_task_memory and timers; "
        f"{args.threads} worker threads. tcp_echo: server with {args.tcp_threads} worker "
        f"thread(s) pinned to CPU 0 and load generator to CPU 1, {args.conns} connections, "
        f"64 B requests, {args.warmup} s warm-up then {args.duration} s measured, a fresh server "
        "per depth.",
        "- file_read: one 256 MiB file of random bytes, read warm from the page cache (buffered "
        "reads; written just before the run, and read once by each program before it measures), "
        "64 KiB blocks, 32 reads in flight; libasyncrt and the peers print one figure per pass of "
        "the whole file after 2 warm-up passes, fio one steady-state figure per run "
        "(time-based after a 1 s ramp). file_read_cpu: CPU time (user + system, all threads) "
        "per GiB read, from getrusage (fio: its usr_cpu + sys_cpu).",
        "- Ratio = impl ÷ asyncrt median; for req/s and MiB/s higher is better, for everything "
        "else lower.",
        "", f"![plot](plot.png)" if not plot_note else f"Plot: {plot_note}", "",
    ]
    by_workload = {}
    for row in rows:
        by_workload.setdefault(row[0], []).append(row)
    for w in workloads:
        lines += [f"## {w}", ""]
        if w == "closure_call":
            lines += closure_table(runner, rows)
        metrics = [m for m, _, _ in metrics_of(w)] if w not in ASYNCRT_ONLY else []
        for metric in metrics:
            mrows = [r for r in by_workload.get(w, []) if r[1] == metric]
            unit, higher = mrows[0][2], mrows[0][3]
            lines += [f"### {metric} ({unit}, {'higher' if higher else 'lower'} is better)", "",
                      "| impl | median | min – max | ratio to asyncrt | n | note |",
                      "|---|---:|---:|---:|---:|---|"]
            for _, _, _, _, name, stats, ratio, note in mrows:
                if stats:
                    med, lo, hi, n = stats
                    lines.append(f"| {name} | {fmt(med)} | {fmt(lo)} – {fmt(hi)} | "
                                 f"{f'{ratio:.2f}×' if ratio else '—'} | {n} | {note} |")
                else:
                    lines.append(f"| {name} | — | — | — | 0 | {note or 'no result'} |")
            lines.append("")
        if w == "file_read":
            lines += fio_target(rows)
        if w == "tcp_echo":
            lines += tcp_echo_targets(rows)
        cmds = [(name, runner.commands[(w, name)]) for name in IMPLS
                if (w, name) in runner.commands]
        if cmds:
            reps = args.heavy_reps if w in HEAVY else args.reps
            lines += [f"To reproduce (from the repository root; each was run {reps} time(s), "
                      "interleaved):", "", "```sh"]
            if w == "file_read":
                lines += ["FILE=bench/results/file_read.dat  # the run's file was removed",
                          f"head -c {FILE_READ_SIZE} /dev/urandom > $FILE"]
            for name, cmd in cmds:
                if isinstance(cmd, list):
                    lines += [f"# {name}"] + cmd
                else:
                    lines.append(cmd)
            lines += ["```", ""]
    path.write_text("\n".join(lines) + "\n")


def tcp_echo_targets(rows):
    """Issue 4's tcp_echo targets against Tokio, and every server against the bare floor."""
    med = {(r[1], r[4]): r[5][0] for r in rows if r[0] == "tcp_echo" and r[5]}
    out = ["| target (issue 4) | libasyncrt | Tokio | ratio | met | bare liburing | "
           "libasyncrt ÷ bare |", "|---|---:|---:|---:|---|---:|---:|"]
    for metric, label, want, higher in (("tcp_echo_d1", "req/s, depth 1", 1.5, True),
                                        ("tcp_echo_d16", "req/s, depth 16", 1.5, True),
                                        ("tcp_echo_d1_cpu", "server CPU/request, depth 1",
                                         0.65, False)):
        a, t, b = (med.get((metric, n)) for n in ("asyncrt", "tokio", "bare-uring"))
        if a is None or t is None:
            out.append(f"| {label} | — | — | — | not decided | — | — |")
            continue
        q = a / t
        met = "yes" if (q >= want if higher else q <= want) else "**no**"
        bare = f"{fmt(b)} | {a / b:.2f}×" if b else "— | —"
        out.append(f"| {label}: {'≥' if higher else '≤'} {want}× Tokio | {fmt(a)} | {fmt(t)} | "
                   f"{q:.2f}× | {met} | {bare} |")
    out += ["", "bare liburing: bench/loadgen/bare_echo.c, one thread and no runtime (the floor "
            "issue 4 names); no runtime can beat it by much, so a ratio to Tokio above the bare "
            "server's own is out of reach that run.", ""]
    return out


def fio_target(rows):
    """Issue 4's target: file_read within 10 % of fio's io_uring engine on the same file."""
    med = {(r[1], r[4]): r[5][0] for r in rows if r[0] == "file_read" and r[5]}
    if ("file_read", "asyncrt") not in med or ("file_read", "fio") not in med:
        return ["Target (issue 4): within 10 % of fio's io_uring engine — not decided, "
                "a figure is missing.", ""]
    q = med[("file_read", "asyncrt")] / med[("file_read", "fio")]
    cpu = [med.get(("file_read_cpu", n)) for n in ("asyncrt", "fio")]
    cpu = (f" CPU per GiB: {cpu[0] / cpu[1]:.2f}× fio's." if all(cpu) else "")
    return [f"Target (issue 4): libasyncrt within 10 % of fio's io_uring engine on the same "
            f"file: {q:.2f} of fio's MiB/s, {'met' if q >= 0.9 else '**not met**'}.{cpu}", ""]


def closure_table(runner, rows):
    """closure_call: each variant against the plain future, with issue 5's targets."""
    stats = {r[1]: r[5] for r in rows if r[0] == "closure_call" and r[4] == "asyncrt"}
    note = next((r[7] for r in rows if r[0] == "closure_call" and r[7]), "")
    plain = stats.get("closure_call_plain")
    out = ["No peer: Tokio and Go have no async closures with run-time borrow checks, so this "
           "is libasyncrt alone (the call machinery against polling the same body as a plain "
           f"future, {runner.args.threads} workers for the contended line)."
           + (f" Note: {note}" if note else ""), "",
           "| variant | ns/call, median | min – max | over the plain future | target (issue 5) "
           "| met |", "|---|---:|---:|---:|---|---|"]
    for metric, label, target in CLOSURE_VARIANTS:
        st = stats.get(metric)
        if not st:
            out.append(f"| {label} | — | — | — | {f'≤ +{target} ns' if target else ''} | |")
            continue
        over = st[0] - plain[0] if plain and metric != "closure_call_plain" else None
        met = "" if target is None or over is None else ("yes" if over <= target else "**no**")
        overs = "—" if over is None else f"{over:+.2f} ns"
        out.append(f"| {label} | {fmt(st[0])} | {fmt(st[1])} – {fmt(st[2])} | {overs} | "
                   f"{f'≤ +{target} ns' if target else '—'} | {met} |")
    return out + [""]


def write_plot(outdir, rows, impl_names, gnuplot):
    """One panel per figure: bars of the medians with min–max whiskers, per impl
    (closure_call: one panel, a bar per variant).

    Absolute values rather than ratios, so that a panel still says something when
    libasyncrt's figure is missing; the ratios are in the report's tables.
    """
    panels = []  # (title, [(label, stats or None, color)])
    for row in rows:
        w, metric, unit, higher = row[:4]
        better = "higher" if higher else "lower"
        title = (f"closure_call ({unit}, {better} is better)" if w == "closure_call"
                 else f"{metric} ({unit}, {better} is better)")
        if not panels or panels[-1][0] != title:
            panels.append((title, []))
        label = metric[len("closure_call_"):] if w == "closure_call" else row[4]
        panels[-1][1].append((label, row[5], COLORS.get(row[4], "#777777")))
    panels = [p for p in panels if any(b[1] for b in p[1])]
    if not panels:
        return "no figures to plot"
    data, script = [], []
    cols = min(4, len(panels))
    nrows = math.ceil(len(panels) / cols)
    script += [
        f"set terminal pngcairo noenhanced size {cols * 380},{nrows * 300} font ',9'",
        "set output 'plot.png'",
        f"set multiplot layout {nrows},{cols} title 'libasyncrt vs peers (median, min–max)'",
        "set style fill solid 0.85 border -1", "set boxwidth 0.6", "unset key", "set grid ytics",
    ]
    for idx, (title, bars) in enumerate(panels):
        script += [f"set xrange [-0.6:{len(bars) - 0.4}]",
                   "set xtics (" + ", ".join(f"'{b[0]}' {i}" for i, b in enumerate(bars)) + ")"
                   + (" rotate by -30" if len(bars) > 4 else "")]
        block = [f"{i} {st[0]:.6g} {st[1]:.6g} {st[2]:.6g} {int(color[1:], 16)}"
                 for i, (_, st, color) in enumerate(bars) if st]
        data.append("\n".join(block))
        script.append("unset label")
        for i, (_, st, _) in enumerate(bars):
            if not st:
                script.append(f"set label 'missing' at {i},graph 0.08 center "
                              "textcolor rgb '#888888'")
        # Noisy outliers would squash the bars: the axis stops at twice the largest
        # median and longer whiskers are clipped (the tables have the exact min–max).
        stats_here = [b[1] for b in bars if b[1]]
        top = min(max(st[2] for st in stats_here), 2 * max(st[0] for st in stats_here))
        script.append(f"set yrange [0:{(top or 1) * 1.05:.6g}]")
        script.append(f"set title '{title}'")
        script.append(f"plot 'plot.dat' index {idx} using 1:2:5 with boxes lc rgb variable, "
                      f"'' index {idx} using 1:3:(0):($4-$3) with vectors heads size screen 0.006,90 "
                      "lc rgb 'black'")
    script.append("unset multiplot")
    (outdir / "plot.dat").write_text("\n\n\n".join(data) + "\n")
    (outdir / "plot.gp").write_text("\n".join(script) + "\n")
    proc = subprocess.run([gnuplot, "plot.gp"], cwd=outdir, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0 or not (outdir / "plot.png").exists():
        return f"gnuplot failed: {tail(proc.stdout, 2)}"
    return None


# ---------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workloads", nargs="*", metavar="workload",
                   help=f"workloads to run (default: all): {', '.join(WORKLOADS)}")
    p.add_argument("--no-peers", action="store_true", help="run libasyncrt only (no fio either)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 repetition, 5 iterations (file_read: passes), 2 s of "
                   "tcp_echo load, 1 s of fio")
    p.add_argument("--iters", type=int, help="measured iterations per process (default 10)")
    p.add_argument("--reps", type=int, help="repetitions per (workload, impl) (default 5)")
    p.add_argument("--heavy-reps", type=int,
                   help=f"repetitions of {', '.join(HEAVY)} (default 3, at most --reps)")
    p.add_argument("--threads", type=int, default=2, help="worker threads (default 2)")
    p.add_argument("--tcp-threads", type=int, default=1,
                   help="tcp_echo server worker threads; it is pinned to one CPU (default 1)")
    p.add_argument("--conns", type=int, default=64, help="tcp_echo connections (default 64)")
    p.add_argument("--duration", type=float, help="tcp_echo measured seconds (default 5)")
    p.add_argument("--warmup", type=float, help="tcp_echo warm-up seconds (default 1)")
    p.add_argument("--timeout", type=int, default=300, help="seconds per run (default 300)")
    p.add_argument("--kv-requests", type=int,
                   help="kv: redis-benchmark -n per command (default 1000000; --quick 100000)")
    p.add_argument("--build-dir", default=str(ROOT / "build"),
                   help="meson build folder holding bench/bench_<workload> (default build/)")
    args = p.parse_args(argv)
    for w in args.workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; known: {', '.join(WORKLOADS)}")
    q = args.quick
    args.iters = args.iters or (5 if q else 10)
    args.reps = args.reps or (1 if q else 5)
    args.heavy_reps = min(args.heavy_reps or (1 if q else 3), args.reps)
    args.duration = args.duration or (2.0 if q else 5.0)
    args.warmup = args.warmup if args.warmup is not None else 1.0
    args.kv_requests = args.kv_requests or (100000 if q else 1000000)
    if min(args.iters, args.reps, args.heavy_reps, args.threads, args.tcp_threads,
           args.conns) < 1:
        p.error("counts must be at least 1")
    return args


def make_data_file():
    """file_read's file: FILE_READ_SIZE random bytes in a fresh folder under bench/results/
    (on the disk of the repository, not a tmpfs), written, synced (so that writeback does
    not run during the measurements) and read once, so that every implementation reads it
    from the page cache. Returns (path, folder to remove) or (reason, None)."""
    log(f"writing file_read's file ({FILE_READ_SIZE >> 20} MiB) ...")
    folder = None
    try:
        RESULTS.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=".file_read-", dir=RESULTS))
        path = folder / "file_read.dat"
        with open(path, "wb") as f:
            for _ in range(FILE_READ_SIZE >> 22):
                f.write(os.urandom(4 << 20))
            f.flush()
            os.fsync(f.fileno())
        with open(path, "rb") as f:
            while f.read(4 << 20):
                pass
        return path, folder
    except OSError as e:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        return f"cannot write it under {rel(RESULTS)}: {e}", None


def main(argv):
    args = parse_args(argv)
    workloads = [w for w in WORKLOADS if not args.workloads or w in args.workloads]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = RESULTS / stamp
    (outdir / "logs").mkdir(parents=True, exist_ok=True)
    log(f"results: {rel(outdir)}")

    # ---- issue 7: the http workload (bench/http_bench.py) -------------------------
    http_wanted = HTTP_WORKLOAD in workloads
    workloads = [w for w in workloads if w != HTTP_WORKLOAD]

    def run_http_workload():
        sys.path.insert(0, str(BENCH))
        import http_bench
        log("http: wrk against examples/http and nginx ...")
        return http_bench.run_http(args.build_dir, outdir, reps=args.heavy_reps,
                                   duration=args.duration, warmup=args.warmup)
    if http_wanted and not workloads:  # `run.py http`: nothing else to run or report
        md, ok = run_http_workload()
        (outdir / "report.md").write_text(md)
        print(md)
        return 0 if ok else 1
    # ---- end of issue 7's block ---------------------------------------------------

    builder = Builder(outdir / "logs")
    impls = [Impl("asyncrt", build_dir=Path(args.build_dir).resolve())]
    if not args.no_peers:
        for name, build, binary in (("tokio", builder.build_tokio, TOKIO_BIN),
                                    ("go", builder.build_go, GO_BIN)):
            log(f"building {name} peer ...")
            why = build()
            if why:
                log(f"  {name} peer missing: {why}")
            impls.append(Impl(name, binary=binary, missing=why))
    if "file_read" in workloads and not args.no_peers:
        log("looking for fio ...")
        fio, why = builder.find_fio()
        if why:
            log(f"  fio missing: {why}")
        impls.append(Impl("fio", binary=fio, missing=why))
    loadgen_missing = None
    if "tcp_echo" in workloads:
        log("building load generator ...")
        loadgen_missing = builder.build_loadgen()
        if loadgen_missing:
            log(f"  load generator missing: {loadgen_missing}")
        if not args.no_peers:  # the floor every tcp_echo server is measured against
            impls.append(Impl("bare-uring", binary=BARE_BIN, missing=loadgen_missing))

    data_file, data_dir = None, None
    if "file_read" in workloads:
        data_file, data_dir = make_data_file()
    runner = Runner(args, impls, loadgen_missing, outdir, data_file)
    started = time.monotonic()
    # ---- kv: run by bench/kv_bench.py, reported in its own section (see KV above).
    kv_result = None
    if "kv" in workloads:
        import kv_bench
        workloads = [w for w in workloads if w not in KV]
        log("kv: kv_server against redis-server (redis-benchmark) ...")
        kv_result = kv_bench.run_kv(args, outdir, log, ROOT)
    try:
        runner.run(workloads)
    finally:
        if data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    log(f"runs done in {time.monotonic() - started:.0f} s")

    impl_names = [i.name for i in impls]
    rows = summarize(runner, workloads, impl_names)
    gnuplot, why = builder.find_gnuplot()
    plot_note = why or write_plot(outdir, rows, impl_names, gnuplot)
    if plot_note:
        log(f"plot not made: {plot_note}")
    info = machine_info()
    info["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = {k: v for k, v in builder.versions.items() if k != "gnuplot"}
    write_markdown(outdir / "report.md", runner, rows, workloads, info, versions, argv, plot_note)
    http_ok = True
    if http_wanted:  # issue 7: its section goes at the end of the report
        md, http_ok = run_http_workload()
        with open(outdir / "report.md", "a") as f:
            f.write("\n" + md)
    write_csv(outdir / "report.csv", rows)
    if kv_result is not None:  # ---- kv: its section and CSV
        kv_md, kv_rows = kv_bench.report(*kv_result, args.kv_requests, args.heavy_reps)
        with open(outdir / "report.md", "a") as f:
            f.write(kv_md)
        with open(outdir / "kv.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["metric", "impl", "median", "min", "max", "unit"])
            w.writerows(kv_rows)
        log(kv_md)
    latest = RESULTS / "latest"
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    elif latest.exists():
        shutil.rmtree(latest)
    shutil.copytree(outdir, latest)
    log(f"report: {rel(outdir / 'report.md')} (copied to {rel(latest)})")

    # Exit 0 iff every libasyncrt workload that exists ran every repetition.
    bad = {w for (w, name) in runner.failures if name == "asyncrt"}
    # A program that exists but could not be run (no load generator) did not run either.
    bad |= {w for (w, name), why in runner.missing.items()
            if name == "asyncrt" and why.startswith(("load generator", "no file to read"))}
    if not http_ok:
        bad.add(HTTP_WORKLOAD)
    if kv_result is not None and kv_result[1]:  # kv: any failed run
        bad.add("kv")
    bad = sorted(bad)
    if not bad and workloads and not any(name == "asyncrt" for (_, name) in runner.attempts):
        log("note: no libasyncrt program for the selected workloads in "
            f"{rel(Path(args.build_dir).resolve() / 'bench')}")
    if bad:
        log("libasyncrt workloads that failed: " + ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
