"""Starting and stopping the servers the bench drives (shared by run.py, kv_bench.py and
http_bench.py): a free loopback port, and a stop that signals the server's whole process group."""
import os
import signal
import socket
import subprocess


def free_port():
    """A port the kernel just handed out: free now, and unlikely to be taken again soon."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc, timeout=10):
    """SIGTERM the process group of proc (started with start_new_session=True), SIGKILL it
    after timeout seconds, and reap proc."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
