#!/usr/bin/env python3
"""Issue 7's HTTP benchmark: wrk against the hello route of examples/http (2 workers) and
against Debian's nginx (2 worker processes) returning the same fixed response, in the same
run, interleaved.

    python3 bench/http_bench.py [--build-dir build-release] [--reps 5] [--duration 5]
                                [--conns 64] [--warmup 1]

bench/run.py runs it as the workload `http` (`./build.sh bench http`).

Layout on 2 cores (BENCH.md's tcp_echo layout): each server, all its threads or processes,
pinned to CPU 0 with taskset; wrk with one thread (`-t1`) pinned to CPU 1; 64 keep-alive
connections (`-c64`). Each repetition starts both servers fresh, warms each up for --warmup
seconds, then measures --duration seconds; the order alternates between repetitions.

Figures per run: requests per second and p99 latency (`wrk --latency`), and the server's
CPU time per request: utime + stime of every process of the server (nginx: master and
workers) from /proc, read just before and just after the measured wrk run, divided by the
requests wrk completed. A run with non-2xx answers or socket errors counts as failed.

nginx's configuration is generated into a temporary folder at run time: `return 200
"Hello, world!\\n"` from `location /`, access_log off, keep-alive without a request cap
(`keepalive_requests`, like our server, which never closes a keep-alive connection by
count), temp paths and pid file in the folder, so no root is needed.
Python standard library only.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from server_proc import free_port, stop

ROOT = Path(__file__).resolve().parent.parent
HELLO = b"Hello, world!\n"
# Issue 7's targets against nginx.
TARGET_RPS = 1.2

NGINX_CONF = """\
worker_processes 2;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type text/plain;
            return 200 "Hello, world!\\n";
        }}
    }}
}}
"""


def log(msg):
    print(f"[http] {msg}", file=sys.stderr, flush=True)


def session_pids(sid):
    """Every live process of session sid (servers are started in their own session)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[3]) == sid:  # field 6 of stat: session
            pids.append(int(d))
    return pids


def cpu_seconds(sid):
    """utime + stime (all threads) of every process of the session, in seconds."""
    ticks = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_ready(proc, port, deadline_s=15.0):
    """None once GET / answers the hello body, else why not."""
    end = time.monotonic() + deadline_s
    last = "no answer"
    while time.monotonic() < end:
        if proc.poll() is not None:
            return f"exited with status {proc.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                body = r.read()
            if body == HELLO:
                return None
            return f"GET / answered {body[:40]!r}"
        except OSError as e:
            last = str(e)
            time.sleep(0.05)
    return f"not answering after {deadline_s:.0f} s ({last})"


UNIT_US = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def parse_wrk(out):
    """(requests, req/s, p99 in us, problem or None) from wrk --latency output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    if not (rps and p99 and total):
        return None, None, None, "could not read wrk's output"
    problem = None
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if non2xx:
        problem = f"{non2xx.group(1)} non-2xx answers"
    elif errors:
        problem = errors.group(0).strip()
    return (int(total.group(1)), float(rps.group(1)),
            float(p99.group(1)) * UNIT_US[p99.group(2)], problem)


class Bench:
    def __init__(self, args, outdir):
        self.args = args
        self.outdir = Path(outdir)
        (self.outdir / "logs").mkdir(parents=True, exist_ok=True)
        cpus = sorted(os.sched_getaffinity(0))
        self.pin = (cpus[0], cpus[1]) if len(cpus) >= 2 else None
        self.server_bin = Path(getattr(args, "server_bin", None) or Path(args.build_dir).resolve()
                               / "examples" / "http" / "http_server")
        self.nginx = shutil.which("nginx") or ("/usr/sbin/nginx"
                                               if os.path.exists("/usr/sbin/nginx") else None)
        self.wrk = shutil.which("wrk")
        self.values = {}  # (impl, metric) -> [values]
        self.failures = {}  # impl -> [reasons]
        self.commands = {}

    def taskset(self, which):
        return ["taskset", "-c", str(self.pin[which])] if self.pin else []

    def start(self, impl, tmp, port, logf):
        if impl == "asyncrt":
            argv = self.taskset(0) + [str(self.server_bin), "--port", str(port),
                                      "--workers", "2"]
        else:
            conf = Path(tmp) / "nginx.conf"
            conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
            for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (Path(tmp) / d).mkdir(exist_ok=True)
            argv = self.taskset(0) + [self.nginx, "-p", str(tmp), "-c", str(conf),
                                      "-e", str(Path(tmp) / "error.log")]
        logf.write(f"$ {' '.join(argv)}\n")
        logf.flush()
        proc = subprocess.Popen(argv, stdout=logf, stderr=logf, start_new_session=True)
        self.commands.setdefault(impl, " ".join(argv).replace(str(port), "$PORT")
                                 .replace(str(tmp), "$TMP"))
        return proc

    def wrk_argv(self, port, secs):
        return self.taskset(1) + [self.wrk, "-t1", f"-c{self.args.conns}", f"-d{secs:g}s",
                                  "--latency", f"http://127.0.0.1:{port}/"]

    def one(self, impl, rep):
        tag = f"http-{impl}-rep{rep + 1}"
        tmp = tempfile.mkdtemp(prefix="http-bench-")
        port = free_port()
        with open(self.outdir / "logs" / f"{tag}-server.log", "w") as logf:
            proc = self.start(impl, tmp, port, logf)
            try:
                why = wait_ready(proc, port)
                if why:
                    return f"server: {why}"
                if self.args.warmup > 0:
                    subprocess.run(self.wrk_argv(port, self.args.warmup), capture_output=True,
                                   text=True, timeout=120)
                c0 = cpu_seconds(proc.pid)
                argv = self.wrk_argv(port, self.args.duration)
                r = subprocess.run(argv, capture_output=True, text=True,
                                   timeout=self.args.duration + 120)
                c1 = cpu_seconds(proc.pid)
            finally:
                stop(proc, timeout=8)
                shutil.rmtree(tmp, ignore_errors=True)
        (self.outdir / "logs" / f"{tag}-wrk.log").write_text(
            f"$ {' '.join(argv)}\n{r.stdout}{r.stderr}")
        if r.returncode != 0:
            return f"wrk exit status {r.returncode}: {r.stderr.strip()[-200:]}"
        total, rps, p99, problem = parse_wrk(r.stdout)
        if problem:
            return problem
        cpu_us = (c1 - c0) * 1e6 / total
        for metric, v in (("rps", rps), ("p99", p99), ("cpu", cpu_us)):
            self.values.setdefault((impl, metric), []).append(v)
        print(f"workload=http impl={impl} threads=2 value={rps:.0f} unit=req/s")
        print(f"workload=http_p99 impl={impl} threads=2 value={p99:.0f} unit=us")
        print(f"workload=http_cpu impl={impl} threads=2 value={cpu_us:.3f} unit=us/req",
              flush=True)
        log(f"rep {rep + 1} {impl}: {rps:,.0f} req/s, p99 {p99:,.0f} us, "
            f"{cpu_us:.2f} us CPU/req")
        return None

    def run(self):
        impls = []
        if self.server_bin.exists():
            impls.append("asyncrt")
        else:
            self.failures["asyncrt"] = [f"{self.server_bin} not built (-Dexamples=true)"]
        if self.nginx:
            impls.append("nginx")
        else:
            self.failures["nginx"] = ["nginx not installed (apt-get install nginx)"]
        if not self.wrk:
            self.failures.setdefault("asyncrt", []).append("wrk not installed")
            return
        for rep in range(self.args.reps):
            order = impls if rep % 2 == 0 else impls[::-1]
            for impl in order:
                problem = self.one(impl, rep)
                if problem:
                    log(f"rep {rep + 1} {impl}: FAILED: {problem}")
                    self.failures.setdefault(impl, []).append(problem)

    def med(self, impl, metric):
        v = self.values.get((impl, metric))
        return statistics.median(v) if v else None

    def markdown(self):
        a = self.args
        pin = (f"servers pinned to CPU {self.pin[0]}, wrk to CPU {self.pin[1]}" if self.pin
               else "no pinning (one CPU)")
        lines = [
            "## http: wrk against the hello route (issue 7)", "",
            f"`wrk -t1 -c{a.conns} -d{a.duration:g}s --latency` after a {a.warmup:g} s warm-up, "
            f"{a.reps} repetitions alternating the order; {pin}. examples/http with "
            "`--workers 2`, nginx with `worker_processes 2`. CPU: utime+stime of all the "
            "server's processes over the measured run, per request. Median (min–max).", "",
            "| figure | libasyncrt | nginx | libasyncrt ÷ nginx | target | met |",
            "|---|---:|---:|---:|---|---|"]

        def cell(impl, metric, fmt):
            v = self.values.get((impl, metric))
            if not v:
                return "—"
            return f"{fmt(statistics.median(v))} ({fmt(min(v))}–{fmt(max(v))})"
        rows = [("req/s", "rps", lambda x: f"{x:,.0f}", f"≥ {TARGET_RPS}×",
                 lambda r: r >= TARGET_RPS),
                ("p99 latency (µs)", "p99", lambda x: f"{x:,.0f}", "≤ 1×", lambda r: r <= 1.0),
                ("server CPU per request (µs)", "cpu", lambda x: f"{x:.2f}", "< 1×",
                 lambda r: r < 1.0)]
        for label, metric, fmt, target, ok in rows:
            x, y = self.med("asyncrt", metric), self.med("nginx", metric)
            ratio = f"{x / y:.2f}×" if x and y else "—"
            met = ("yes" if ok(x / y) else "**no**") if x and y else "—"
            lines.append(f"| {label} | {cell('asyncrt', metric, fmt)} | "
                         f"{cell('nginx', metric, fmt)} | {ratio} | {target} | {met} |")
        lines.append("")
        for impl, cmd in self.commands.items():
            lines.append(f"- {impl}: `{cmd}`")
        for impl, why in self.failures.items():
            lines.append(f"- {impl} failures: " + "; ".join(why))
        return "\n".join(lines) + "\n"


def add_args(p):
    p.add_argument("--build-dir", default=str(ROOT / "build"),
                   help="meson build folder with examples/http/http_server")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--conns", type=int, default=64)


def run_http(build_dir, outdir, reps, duration, warmup, conns=64, server_bin=None):
    """bench/run.py's entry: runs the workload, writes http.md in outdir, returns
    (markdown, ok) where ok means libasyncrt's server produced every repetition."""
    args = argparse.Namespace(build_dir=build_dir, reps=reps, duration=duration,
                              warmup=warmup, conns=conns, server_bin=server_bin)
    b = Bench(args, outdir)
    b.run()
    md = b.markdown()
    (Path(outdir) / "http.md").write_text(md)
    return md, "asyncrt" not in b.failures


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_args(p)
    p.add_argument("--outdir", help="where logs and http.md go (default: a temp folder)")
    p.add_argument("--server-bin", help="another http_server binary (A/B comparisons)")
    args = p.parse_args(argv)
    outdir = args.outdir or tempfile.mkdtemp(prefix="http-bench-results-")
    md, ok = run_http(args.build_dir, outdir, args.reps, args.duration, args.warmup,
                      args.conns, args.server_bin)
    print(md)
    log(f"logs in {outdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
