"""The `kv` workload of bench/run.py (issue 7): libasyncrt's RESP2 key-value server
(examples/kv, `kv_server`) against Debian's redis-server, driven by Debian's
redis-benchmark, in the same run.

For each repetition, start both servers pinned to CPU 0 (ours with 1 worker: one CPU),
persistence off for redis-server (`--save "" --appendonly no`), each on its own free
port; then for each pipeline depth (1 and 16) and each command (PING, SET, GET), against
one server then the other (the order alternating), run

    taskset -c 1 redis-benchmark -p PORT -t CMD -c 50 -n N -P DEPTH --csv

and read the server's CPU time (utime + stime of /proc/PID/stat, all its threads) just
before and after that one command's run. Figures per (server, command, depth): requests
per second (redis-benchmark's), p99 latency (ms, redis-benchmark's), server CPU
microseconds per request. `-t ping` runs PING_INLINE and PING_MBULK in one go: its CPU
figure covers both, and its req/s is PING_MBULK's.
"""

import csv
import io
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path

from server_proc import free_port, stop

COMMANDS = ["ping", "set", "get"]
DEPTHS = [1, 16]
CLIENTS = 50
SERVERS = ["asyncrt", "redis"]
# Issue 7's targets: ours >= 1.3x redis-server's req/s on GET and SET at both depths, and
# at most 3/4 of its server CPU per request.
TARGET_RPS = 1.3
TARGET_CPU = 0.75


def _clk_tck():
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


def cpu_seconds(pid):
    """utime + stime of a process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _clk_tck()


def wait_ping(port, proc, deadline_s=15.0):
    """None once the server answers PING on port, else why not."""
    import socket
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return f"server exited with status {proc.returncode} before answering"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return None
        except OSError:
            pass
        time.sleep(0.05)
    return f"no PONG on port {port} after {deadline_s:.0f} s"


def server_argv(name, kv_server, port):
    if name == "asyncrt":
        return [str(kv_server), "--port", str(port), "--workers", "1", "--quiet"]
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--logfile", "", "--loglevel",
            "warning"]


def parse_csv(out):
    """{TEST: (rps, p99_ms)} from redis-benchmark --csv."""
    res = {}
    rows = list(csv.reader(io.StringIO(out)))
    if not rows:
        return res
    head = rows[0]
    for r in rows[1:]:
        if len(r) != len(head):
            continue
        d = dict(zip(head, r))
        try:
            res[d["test"]] = (float(d["rps"]), float(d.get("p99_latency_ms", "nan")))
        except (KeyError, ValueError):
            continue
    return res


def run_kv(args, outdir, log, root):
    """Runs the workload; returns (figures, failures, commands).

    figures: {(server, metric): [values]} with metric kv_<cmd>_p<depth> (req/s),
    ..._p99 (ms) and ..._cpu (us/req).
    """
    figures, failures, commands = {}, [], []
    kv_server = Path(args.build_dir).resolve() / "examples" / "kv" / "kv_server"
    missing = []
    if not (kv_server.is_file() and os.access(kv_server, os.X_OK)):
        missing.append(f"{kv_server} not built (meson -Dexamples=true)")
    for tool in ("redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            missing.append(f"{tool} not installed (apt-get install redis-server redis-tools)")
    if missing:
        failures.append("; ".join(missing))
        return figures, failures, commands
    cpus = sorted(os.sched_getaffinity(0))
    pin = (cpus[0], cpus[1]) if len(cpus) >= 2 and shutil.which("taskset") else None
    server_pin = ["taskset", "-c", str(pin[0])] if pin else []
    client_pin = ["taskset", "-c", str(pin[1])] if pin else []
    n = args.kv_requests
    reps = args.heavy_reps
    for rep in range(reps):
        # Both servers run side by side (an idle one costs nothing) and every
        # (depth, command) alternates between them, so load from elsewhere on a shared
        # machine falls on both alike.
        procs, ports, logs = {}, {}, {}
        try:
            for name in SERVERS:
                port = free_port()
                argv = server_pin + server_argv(name, kv_server, port)
                slog = open(outdir / "logs" / f"kv-{name}-rep{rep + 1}-server.log", "a")
                slog.write(f"$ {shlex.join(argv)}\n")
                slog.flush()
                logs[name] = slog
                proc = subprocess.Popen(argv, cwd=root, stdout=slog, stderr=slog,
                                        start_new_session=True)
                why = wait_ping(port, proc)
                if why:
                    failures.append(f"{name} rep {rep + 1}: {why}")
                    stop(proc)
                    continue
                procs[name], ports[name] = proc, port
            k = 0
            for depth in DEPTHS:
                for cmd in COMMANDS:
                    order = SERVERS if (rep + k) % 2 == 0 else SERVERS[::-1]
                    k += 1
                    for name in order:
                        if name not in procs:
                            continue
                        proc, port = procs[name], ports[name]
                        bench = client_pin + ["redis-benchmark", "-p", str(port), "-t", cmd,
                                              "-c", str(CLIENTS), "-n", str(n), "-P",
                                              str(depth), "--csv"]
                        recipe = (shlex.join(server_pin + server_argv(
                            name, "build-release/examples/kv/kv_server", 6399)) + " &\n"
                            + shlex.join(bench).replace(str(port), "6399"))
                        if recipe not in commands:
                            commands.append(recipe)
                        c0 = cpu_seconds(proc.pid)
                        t0 = time.monotonic()
                        r = subprocess.run(bench, capture_output=True, text=True,
                                           timeout=args.timeout)
                        secs = time.monotonic() - t0
                        c1 = cpu_seconds(proc.pid)
                        with open(outdir / "logs" / f"kv-{name}-rep{rep + 1}.log", "a") as f:
                            f.write(f"$ {shlex.join(bench)}\n[exit {r.returncode}, {secs:.2f} s, "
                                    f"server cpu {c1 - c0:.3f} s]\n{r.stdout}{r.stderr}\n")
                        res = parse_csv(r.stdout)
                        test = "PING_MBULK" if cmd == "ping" else cmd.upper()
                        if r.returncode != 0 or test not in res:
                            failures.append(f"{name} rep {rep + 1} {cmd} -P {depth}: "
                                            f"exit {r.returncode}, no {test} line")
                            continue
                        rps, p99 = res[test]
                        total_reqs = n * (2 if cmd == "ping" else 1)
                        metric = f"kv_{cmd}_p{depth}"
                        figures.setdefault((name, metric), []).append(rps)
                        figures.setdefault((name, metric + "_p99"), []).append(p99)
                        figures.setdefault((name, metric + "_cpu"), []).append(
                            (c1 - c0) * 1e6 / total_reqs)
                        log(f"  kv rep {rep + 1} {name:8s} {cmd:4s} -P {depth:2d}: "
                            f"{rps:,.0f} req/s, p99 {p99:.3f} ms, "
                            f"{(c1 - c0) * 1e6 / total_reqs:.2f} us CPU/req")
        finally:
            for name, proc in procs.items():
                stop(proc)
            for slog in logs.values():
                slog.close()
    return figures, failures, commands


def med(vs):
    return statistics.median(vs) if vs else float("nan")


def report(figures, failures, commands, n, reps):
    """The report.md section (markdown) and CSV rows."""
    lines = ["", "## kv: RESP2 key-value server against redis-server (issue 7)", "",
             f"redis-benchmark -c {CLIENTS} -n {n}, one command per run; server pinned to "
             f"CPU 0 (libasyncrt: 1 worker), redis-benchmark to CPU 1; median (min–max) of "
             f"{reps} repetitions, the two servers alternating command by command. CPU: the server's utime+stime over "
             f"the command's run, per request.", "",
             "| command | depth | libasyncrt req/s | redis req/s | ratio | libasyncrt us CPU/req "
             "| redis us CPU/req | CPU ratio | libasyncrt p99 ms | redis p99 ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = []
    targets = []

    def cell(vs, fmt="{:,.0f}"):
        if not vs:
            return "—"
        return f"{fmt.format(med(vs))} ({fmt.format(min(vs))}–{fmt.format(max(vs))})"

    for depth in DEPTHS:
        for cmd in COMMANDS:
            m = f"kv_{cmd}_p{depth}"
            a, r = figures.get(("asyncrt", m), []), figures.get(("redis", m), [])
            ac, rc = figures.get(("asyncrt", m + "_cpu"), []), figures.get(("redis", m + "_cpu"), [])
            ap, rp = figures.get(("asyncrt", m + "_p99"), []), figures.get(("redis", m + "_p99"), [])
            ratio = med(a) / med(r) if a and r else float("nan")
            cratio = med(ac) / med(rc) if ac and rc else float("nan")
            lines.append(f"| {cmd.upper()} | {depth} | {cell(a)} | {cell(r)} | {ratio:.2f}× | "
                         f"{cell(ac, '{:.2f}')} | {cell(rc, '{:.2f}')} | {cratio:.2f}× | "
                         f"{cell(ap, '{:.3f}')} | {cell(rp, '{:.3f}')} |")
            for server, vs in (("asyncrt", a), ("redis", r)):
                if vs:
                    rows.append((m, server, med(vs), min(vs), max(vs), "req/s"))
            for server, vs in (("asyncrt", ac), ("redis", rc)):
                if vs:
                    rows.append((m + "_cpu", server, med(vs), min(vs), max(vs), "us/req"))
            for server, vs in (("asyncrt", ap), ("redis", rp)):
                if vs:
                    rows.append((m + "_p99", server, med(vs), min(vs), max(vs), "ms"))
            if cmd in ("get", "set"):
                targets.append((f"{cmd.upper()} -P {depth}: req/s ≥ {TARGET_RPS}× redis",
                                f"{ratio:.2f}×", ratio >= TARGET_RPS))
                targets.append((f"{cmd.upper()} -P {depth}: CPU/req ≤ {TARGET_CPU}× redis",
                                f"{cratio:.2f}×", cratio <= TARGET_CPU))
    lines += ["", "| target | this run | met |", "|---|---|---|"]
    lines += [f"| {t} | {v} | {'yes' if ok else '**no**'} |" for t, v, ok in targets]
    if failures:
        lines += ["", "Failures:", ""] + [f"- {f}" for f in failures]
    lines += ["", "Commands (port 6399 for illustration):", "", "```"] + commands[:4] + \
             ["...", "```"]
    return "\n".join(lines) + "\n", rows
