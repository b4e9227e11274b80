"""The benchmarks' load generator side: a lean HTTP client and the machine's CPU figures.

Simulated workers run in forked processes next to the server they measure, on the same 2 shared
cores, so the client is kept cheap (see `Http`).
"""

import contextlib
import json
import math
import multiprocessing
import os
import re
import resource
import signal
import socket
import threading
import time


class Http:
    """One HTTP/1.1 connection, kept alive while the server keeps it (gunicorn's sync workers
    close it after every response; the next request then opens another).

    Hand-written on a socket on purpose: it shares the 2 cores with the server it measures, and
    `http.client` (its header parsing above all) took an eighth of the machine, twice as much
    per loop (0.7 ms against 0.35 ms of CPU), and the server did 25% fewer loops. It reads what
    the product sends: a status line, headers with Content-Length (Django's CommonMiddleware
    sets it) or none for 204, a JSON body, kept as it came in `raw`."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.sock: socket.socket | None = None
        self.raw = b""
        self.head = (
            f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nAuthorization: Token {token}\r\n"
        ).encode()

    def post(self, path: str, body: dict) -> tuple[int, dict | None]:
        payload = json.dumps(body).encode()
        return self._exchange(
            b"POST "
            + path.encode()
            + b" HTTP/1.1\r\n"
            + self.head
            + b"Content-Length: "
            + str(len(payload)).encode()
            + b"\r\n\r\n"
            + payload
        )

    def get(self, path: str) -> tuple[int, dict | None]:
        return self._exchange(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head + b"\r\n")

    def _exchange(self, request: bytes) -> tuple[int, dict | None]:
        for attempt in (1, 2):
            reused = self.sock is not None
            if not reused:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            try:
                self.sock.sendall(request)
                status, keep_alive, raw = self._response()
                break
            except (ConnectionError, _Closed):
                self.close()  # a kept-alive connection the server had closed
                if not reused or attempt == 2:
                    raise
            except BaseException:
                self.close()  # a timeout: a late answer must not be read as the next one's
                raise
        if not keep_alive:
            self.close()
        self.raw = raw
        return status, (json.loads(raw) if raw else None)

    def _response(self) -> tuple[int, bool, bytes]:
        data = b""
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += self._recv()
        head = data[:end].decode("latin-1").lower()
        status = int(head[9:12])
        length = int(found[1]) if (found := _CONTENT_LENGTH.search(head)) else 0
        body = data[end + 4 :]
        while len(body) < length:
            body += self._recv()
        return status, not _CLOSE.search(head), body

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed("the server closed the connection")
        return chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class _Closed(OSError):
    pass


_CONTENT_LENGTH = re.compile(r"\r\ncontent-length:\s*(\d+)")
_CLOSE = re.compile(r"\r\nconnection:\s*close")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)  # nearest rank
    return ordered[max(0, min(len(ordered), math.ceil(fraction * len(ordered))) - 1)]


def cpu_busy_ticks() -> tuple[int, int]:
    """Busy and total jiffies of the whole machine, all cores."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Cores busy on average between two readings of `cpu_busy_ticks`."""
    return (os.cpu_count() or 1) * (after[0] - before[0]) / max(1, after[1] - before[1])


def wait_until_quiet(max_seconds: float, idle_share: float = 0.8) -> float:
    """Waits (up to max_seconds) for a second in which the machine is at least idle_share idle;
    returns the idle share last seen. Other jobs on the 2 shared cores skew every figure."""
    deadline = time.time() + max_seconds
    while True:
        before = cpu_busy_ticks()
        time.sleep(1)
        idle = 1 - busy_cores(before, cpu_busy_ticks()) / (os.cpu_count() or 1)
        if idle >= idle_share or time.time() >= deadline:
            return idle


def run_threads(jobs: list, stats_class, queue) -> None:
    """The body of a forked load-generator process: runs each (function, arguments) of `jobs`
    in a thread of its own, a fresh `stats_class()` passed last, and puts their figures merged,
    with this process's CPU seconds, on `queue`."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)  # the parent cleans up; just die
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    per_thread = [stats_class() for _ in jobs]
    threads = [
        threading.Thread(target=job, args=(*args, stats), daemon=True)
        for (job, args), stats in zip(jobs, per_thread, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = stats_class()
    for stats in per_thread:
        total.merge(stats)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    total.cpu_seconds = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    queue.put(total)


@contextlib.contextmanager
def load_processes(job_groups: list[list], stats_class):
    """A forked load-generator process per group of jobs (`run_threads`), started at once.
    Yields `collect(timeout)`, which waits for their figures and returns them merged; processes
    still running on the way out are terminated."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=run_threads, args=(jobs, stats_class, queue), daemon=True)
        for jobs in job_groups
    ]
    for process in processes:
        process.start()

    def collect(timeout: float):
        total = stats_class()
        for _ in processes:
            total.merge(queue.get(timeout=timeout))
        for process in processes:
            process.join(timeout=10)
        return total

    try:
        yield collect
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
