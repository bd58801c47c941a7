//! Tokio peer of libasyncrt's benchmark suite.
//!
//! Implements the workloads of shared BENCH.md on Tokio's multi-threaded runtime with
//! exactly the parameters given there, under the command-line contract shared by every
//! implementation (see ../README.md):
//!
//!     peer-tokio <workload> [--threads N] [--iters K] [--port P] [--file PATH]
//!
//! One line per measured iteration on stdout:
//!
//!     workload=<name> impl=tokio threads=<n> value=<number> unit=<unit>
//!
//! The four scheduler workloads mirror Tokio's own benches/rt_multi_threaded.rs (the
//! figures quoted in the project's issue come from there), so the runtime is driven
//! the same way: spawning happens inside `block_on` on the main thread and the main
//! thread waits on a blocking std channel.

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio::sync::{oneshot, Notify};

mod sync;

const IMPL: &str = "tokio";

/// Warm-up iterations of the scheduler workloads: they print nothing and let thread
/// start-up, allocator growth and page faults happen before anything is measured.
const WARMUP: usize = 5;

struct Opts {
    workload: String,
    threads: usize,
    iters: Option<usize>,
    port: Option<u16>,
    file: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: peer-tokio <spawn_many|yield_many|ping_pong|chained_spawn|idle_task_memory|timers|tcp_echo|file_read> \
         [--threads N] [--iters K] [--port P] [--file PATH]"
    );
    std::process::exit(2);
}

fn parse_args() -> Opts {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| usage());
    let mut opts = Opts { workload, threads: 2, iters: None, port: None, file: None };
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--threads" => opts.threads = value.parse().unwrap_or_else(|_| usage()),
            "--iters" => opts.iters = Some(value.parse().unwrap_or_else(|_| usage())),
            "--port" => opts.port = Some(value.parse().unwrap_or_else(|_| usage())),
            "--file" => opts.file = Some(value),
            _ => usage(),
        }
    }
    if opts.threads == 0 {
        usage();
    }
    opts
}

fn report(workload: &str, threads: usize, value: f64, unit: &str) {
    // println! goes through a LineWriter, so each result line reaches the runner at once.
    println!("workload={workload} impl={IMPL} threads={threads} value={value:.2} unit={unit}");
}

/// Resident set size in bytes, from the second field of /proc/self/statm (pages).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|f| f.parse().ok()).expect("parse statm");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}

/// One-shot event the last task of a batch fires and the (non-runtime) main thread
/// waits on; used where the payload would be pure overhead for every task.
#[derive(Default)]
struct Latch {
    fired: Mutex<bool>,
    cond: Condvar,
}

impl Latch {
    fn fire(&self) {
        *self.fired.lock().unwrap() = true;
        self.cond.notify_all();
    }
    fn wait(&self) {
        let mut fired = self.fired.lock().unwrap();
        while !*fired {
            fired = self.cond.wait(fired).unwrap();
        }
    }
}

/// splitmix64: the same generator and seed in every implementation, so that all of
/// them sleep the very same sequence of durations in the timers workload.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Runs `warmup` silent iterations, then `iters` measured ones; `body` returns the
/// elapsed time of one iteration, which is divided by `ops` for the per-op figure.
fn measure(opts: &Opts, unit: &str, ops: usize, mut body: impl FnMut() -> Duration) {
    let iters = opts.iters.unwrap_or(50);
    for i in 0..WARMUP + iters {
        let elapsed = body();
        if i >= WARMUP {
            report(&opts.workload, opts.threads, elapsed.as_nanos() as f64 / ops as f64, unit);
        }
    }
}

/// spawn_many: from inside the runtime, spawn 10,000 tasks that each decrement a shared
/// atomic counter; the one that brings it to zero signals completion.
fn spawn_many(rt: &Runtime, opts: &Opts) {
    const NUM_SPAWN: usize = 10_000;
    let (tx, rx) = mpsc::sync_channel(1000);
    let rem = Arc::new(AtomicUsize::new(0));
    measure(opts, "ns/task", NUM_SPAWN, || {
        rem.store(NUM_SPAWN, Ordering::Relaxed);
        let start = Instant::now();
        // Spawned from inside a task on a worker, as libasyncrt's program
        // does ("from inside the runtime"): Tokio's own bench spawns from
        // block_on, whose thread is not a worker, so every spawn would go
        // through the injection queue instead.
        let (tx, rem) = (tx.clone(), rem.clone());
        rt.block_on(async move {
            tokio::spawn(async move {
                for _ in 0..NUM_SPAWN {
                    let tx = tx.clone();
                    let rem = rem.clone();
                    tokio::spawn(async move {
                        if rem.fetch_sub(1, Ordering::Relaxed) == 1 {
                            tx.send(()).unwrap();
                        }
                    });
                }
            });
        });
        rx.recv().unwrap();
        start.elapsed()
    });
}

/// yield_many: 200 tasks that each yield 1,000 times.
fn yield_many(rt: &Runtime, opts: &Opts) {
    const NUM_YIELD: usize = 1_000;
    const TASKS: usize = 200;
    let (tx, rx) = mpsc::sync_channel(TASKS);
    measure(opts, "ns/yield", NUM_YIELD * TASKS, || {
        let start = Instant::now();
        for _ in 0..TASKS {
            let tx = tx.clone();
            rt.spawn(async move {
                for _ in 0..NUM_YIELD {
                    tokio::task::yield_now().await;
                }
                tx.send(()).unwrap();
            });
        }
        for _ in 0..TASKS {
            rx.recv().unwrap();
        }
        start.elapsed()
    });
}

/// ping_pong: 1,000 tasks; each spawns a partner, sends it a message through a oneshot
/// channel and waits for the answer through another oneshot.
fn ping_pong(rt: &Runtime, opts: &Opts) {
    const NUM_PINGS: usize = 1_000;
    let (done_tx, done_rx) = mpsc::sync_channel(1000);
    let rem = Arc::new(AtomicUsize::new(0));
    measure(opts, "ns/roundtrip", NUM_PINGS, || {
        let done_tx = done_tx.clone();
        let rem = rem.clone();
        rem.store(NUM_PINGS, Ordering::Relaxed);
        let start = Instant::now();
        rt.block_on(async {
            tokio::spawn(async move {
                for _ in 0..NUM_PINGS {
                    let rem = rem.clone();
                    let done_tx = done_tx.clone();
                    tokio::spawn(async move {
                        let (tx1, rx1) = oneshot::channel();
                        let (tx2, rx2) = oneshot::channel();
                        tokio::spawn(async move {
                            rx1.await.unwrap();
                            tx2.send(()).unwrap();
                        });
                        tx1.send(()).unwrap();
                        rx2.await.unwrap();
                        if rem.fetch_sub(1, Ordering::Relaxed) == 1 {
                            done_tx.send(()).unwrap();
                        }
                    });
                }
            });
            done_rx.recv().unwrap();
        });
        start.elapsed()
    });
}

/// chained_spawn: a task spawns a task that spawns a task ... 1,000 deep.
fn chained_spawn(rt: &Runtime, opts: &Opts) {
    const DEPTH: usize = 1_000;
    fn link(done_tx: mpsc::SyncSender<()>, n: usize) {
        if n == 0 {
            done_tx.send(()).unwrap();
        } else {
            tokio::spawn(async move { link(done_tx, n - 1) });
        }
    }
    let (done_tx, done_rx) = mpsc::sync_channel(1000);
    measure(opts, "ns/spawn", DEPTH, || {
        let done_tx = done_tx.clone();
        let start = Instant::now();
        rt.block_on(async {
            tokio::spawn(async move { link(done_tx, DEPTH) });
            done_rx.recv().unwrap();
        });
        start.elapsed()
    });
}

/// State shared by all tasks of one idle_task_memory or timers iteration. A single Arc
/// keeps each task's own state to one pointer, so the figure is the runtime's cost.
struct Batch {
    /// Tasks that have been polled once and are now waiting.
    parked: AtomicUsize,
    /// Tasks that have not finished yet; the one that brings it to 0 fires `done`.
    remaining: AtomicUsize,
    done: Latch,
    release: Notify,
}

impl Batch {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Batch {
            parked: AtomicUsize::new(0),
            remaining: AtomicUsize::new(n),
            done: Latch::default(),
            release: Notify::new(),
        })
    }
    fn finish_one(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.fire();
        }
    }
    /// Blocks the main thread until every task has been polled once. Polling with a
    /// short sleep is fine here: this wait is not part of any timed span.
    fn wait_parked(&self, n: usize) {
        while self.parked.load(Ordering::Acquire) < n {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// idle_task_memory: 1,000,000 tasks that each wait on a notification that only fires
/// when they are released; resident set growth divided by the count. Memory workloads
/// have no warm-up: the growth is measured against the resident set before the first
/// iteration, so a later iteration that reuses freed memory still reports the full cost.
fn idle_task_memory(rt: &Runtime, opts: &Opts) {
    const N: usize = 1_000_000;
    let base = rss_bytes();
    for _ in 0..opts.iters.unwrap_or(1) {
        let batch = Batch::new(N);
        rt.block_on(async {
            for _ in 0..N {
                let batch = batch.clone();
                tokio::spawn(async move {
                    // `notified()` registers for notify_waiters() when it is created, so the
                    // release below cannot be missed even by a task not yet polled again.
                    let released = batch.release.notified();
                    batch.parked.fetch_add(1, Ordering::Release);
                    released.await;
                    batch.finish_one();
                });
            }
        });
        batch.wait_parked(N);
        let grown = rss_bytes().saturating_sub(base);
        report(&opts.workload, opts.threads, grown as f64 / N as f64, "B/task");
        batch.release.notify_waiters();
        batch.done.wait();
    }
}

/// timers: 1,000,000 tasks that each sleep a random 1–1,000 ms (splitmix64, same seed
/// everywhere). Time from the first spawn until the last woke, per timer; and resident
/// set growth once every task has been polled, per timer still pending at that moment
/// (the shortest sleeps may already be over by then, and their memory is reused).
fn timers(rt: &Runtime, opts: &Opts) {
    const N: usize = 1_000_000;
    let base = rss_bytes();
    for _ in 0..opts.iters.unwrap_or(1) {
        let batch = Batch::new(N);
        let mut rng = SplitMix64(0);
        let start = Instant::now();
        rt.block_on(async {
            for _ in 0..N {
                let ms = 1 + rng.next() % 1000;
                let batch = batch.clone();
                tokio::spawn(async move {
                    let sleep = tokio::time::sleep(Duration::from_millis(ms));
                    batch.parked.fetch_add(1, Ordering::Release);
                    sleep.await;
                    batch.finish_one();
                });
            }
        });
        batch.wait_parked(N);
        let grown = rss_bytes().saturating_sub(base);
        let pending = batch.remaining.load(Ordering::Acquire).max(1);
        batch.done.wait();
        let elapsed = start.elapsed();
        report("timers", opts.threads, elapsed.as_nanos() as f64 / N as f64, "ns/timer");
        report("timers_memory", opts.threads, grown as f64 / pending as f64, "B/timer");
    }
}

/// tcp_echo server: one task per connection echoing whatever it reads, until killed.
/// TCP_NODELAY on, 4 KiB read buffer: the same choices in every implementation.
fn tcp_echo(rt: &Runtime, opts: &Opts) {
    let port = opts.port.unwrap_or_else(|| {
        eprintln!("tcp_echo needs --port P");
        std::process::exit(2)
    });
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap_or_else(|e| {
            eprintln!("tcp_echo: bind 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        });
        eprintln!("tcp_echo: listening on 127.0.0.1:{port}");
        loop {
            let (mut sock, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("tcp_echo: accept: {e}");
                    continue;
                }
            };
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if sock.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// CPU time (user + system) of the whole process so far, in ms.
fn cpu_ms() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// file_read: read the file `--file` (the runner makes a 256 MiB one, in the page
/// cache) in 64 KiB blocks with 32 reads in flight. What a Tokio user writes for
/// positional reads: tokio::fs::File has no read_at and allows one operation at a time
/// per handle, so 32 tasks each run std's `read_at` through `spawn_blocking` (which is
/// what tokio::fs does inside), claiming block indices from a shared counter. Every
/// pass checks that each read was whole and that the bytes add up to the file size.
/// Per pass: MiB/s, and the process's CPU time (user + system, all threads) per GiB.
fn file_read(rt: &Runtime, opts: &Opts) {
    const BS: u64 = 64 * 1024;
    const DEPTH: usize = 32;
    const PASS_WARMUP: usize = 2; // as libasyncrt's program: 256 MiB passes are long
    let path = opts.file.clone().unwrap_or_else(|| usage());
    let file = Arc::new(std::fs::File::open(&path).unwrap_or_else(|e| {
        eprintln!("peer-tokio: {path}: {e}");
        std::process::exit(1);
    }));
    let size = file.metadata().expect("metadata").len();
    let nblocks = (size + BS - 1) / BS;
    for i in 0..PASS_WARMUP + opts.iters.unwrap_or(10) {
        let (start, cpu0) = (Instant::now(), cpu_ms());
        let total: u64 = rt.block_on(async {
            let next = Arc::new(AtomicU64::new(0));
            let tasks: Vec<_> = (0..DEPTH)
                .map(|_| {
                    let (file, next) = (file.clone(), next.clone());
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; BS as usize];
                        let mut bytes = 0u64;
                        loop {
                            let idx = next.fetch_add(1, Ordering::Relaxed);
                            if idx >= nblocks {
                                return bytes;
                            }
                            let off = idx * BS;
                            let want = BS.min(size - off) as usize;
                            let f = file.clone();
                            let (b, n) = tokio::task::spawn_blocking(move || {
                                let n = f.read_at(&mut buf[..want], off);
                                (buf, n)
                            })
                            .await
                            .expect("spawn_blocking");
                            buf = b;
                            match n {
                                Ok(n) if n == want => bytes += n as u64,
                                r => {
                                    eprintln!("peer-tokio: read_at {off}: {r:?}, wanted {want}");
                                    std::process::exit(1);
                                }
                            }
                        }
                    })
                })
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.expect("reader task");
            }
            total
        });
        let (elapsed, cpu) = (start.elapsed(), cpu_ms() - cpu0);
        if total != size {
            eprintln!("peer-tokio: read {total} of {size} bytes");
            std::process::exit(1);
        }
        if i >= PASS_WARMUP {
            let mib_s = size as f64 / (1u64 << 20) as f64 / elapsed.as_secs_f64();
            report("file_read", opts.threads, mib_s, "MiB/s");
            report("file_read_cpu", opts.threads, cpu / (size as f64 / (1u64 << 30) as f64), "ms/GiB");
        }
    }
}

fn main() {
    let opts = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .enable_all()
        .build()
        .expect("build runtime");
    // Start the workers before any baseline is taken.
    rt.block_on(async { tokio::spawn(async {}).await.unwrap() });
    match opts.workload.as_str() {
        "spawn_many" => spawn_many(&rt, &opts),
        "yield_many" => yield_many(&rt, &opts),
        "ping_pong" => ping_pong(&rt, &opts),
        "chained_spawn" => chained_spawn(&rt, &opts),
        "idle_task_memory" => idle_task_memory(&rt, &opts),
        "timers" => timers(&rt, &opts),
        "tcp_echo" => tcp_echo(&rt, &opts),
        "file_read" => file_read(&rt, &opts),
        "mpsc" => sync::mpsc_bench(&rt, &opts),
        "mutex" => sync::mutex_bench(&rt, &opts),
        _ => usage(),
    }
}
