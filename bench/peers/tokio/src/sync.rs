//! mpsc and mutex workloads of the Tokio peer, with the parameters defined at the top of
//! bench/mpsc.c and bench/mutex.c (tokio::sync::mpsc::channel, tokio::sync::Mutex).

use std::sync::Arc;
use std::time::Instant;

use tokio::runtime::Runtime;
use tokio::sync::{mpsc, Mutex};

use crate::{report, Opts, WARMUP};

const MESSAGES: usize = 100_000;
const CAPACITY: usize = 1024;
const TASKS: usize = 8;
const LOCKS: usize = 10_000;
const UNCONTENDED: usize = 1_000_000;

/// One consumer, `producers` producers sharing MESSAGES sends; messages per second.
fn mpsc_once(rt: &Runtime, producers: usize) -> f64 {
    let start = Instant::now();
    let got = rt.block_on(async {
        let (tx, mut rx) = mpsc::channel::<u64>(CAPACITY);
        let consumer = tokio::spawn(async move {
            let mut n = 0usize;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        });
        for _ in 0..producers {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..(MESSAGES / producers) as u64 {
                    tx.send(i).await.unwrap();
                }
            });
        }
        drop(tx);
        consumer.await.unwrap()
    });
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(got, MESSAGES);
    MESSAGES as f64 / secs
}

pub fn mpsc_bench(rt: &Runtime, opts: &Opts) {
    for i in 0..WARMUP + opts.iters.unwrap_or(10) {
        let (p1, p2) = (mpsc_once(rt, 1), mpsc_once(rt, 2));
        if i >= WARMUP {
            report("mpsc_p1", opts.threads, p1, "msg/s");
            report("mpsc_p2", opts.threads, p2, "msg/s");
        }
    }
}

/// TASKS tasks each lock, increment, unlock LOCKS times; ns per lock/unlock.
fn mutex_contended(rt: &Runtime) -> f64 {
    let m = Arc::new(Mutex::new(0u64));
    let start = Instant::now();
    rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let m = m.clone();
                tokio::spawn(async move {
                    for _ in 0..LOCKS {
                        *m.lock().await += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    let ns = start.elapsed().as_nanos() as f64;
    assert_eq!(*m.try_lock().unwrap(), (TASKS * LOCKS) as u64);
    ns / (TASKS * LOCKS) as f64
}

/// One task alone, UNCONTENDED lock/unlock pairs; ns per pair.
fn mutex_uncontended(rt: &Runtime) -> f64 {
    rt.block_on(async {
        let m = Mutex::new(0u64);
        let start = Instant::now();
        for _ in 0..UNCONTENDED {
            *m.lock().await += 1;
        }
        let ns = start.elapsed().as_nanos() as f64;
        assert_eq!(*m.lock().await, UNCONTENDED as u64);
        ns / UNCONTENDED as f64
    })
}

/// The same loop on std::sync::Mutex (the blocking mutex, a futex like pthread's).
fn mutex_blocking() -> f64 {
    let m = std::sync::Mutex::new(0u64);
    let start = Instant::now();
    for _ in 0..UNCONTENDED {
        *m.lock().unwrap() += 1;
    }
    let ns = start.elapsed().as_nanos() as f64;
    assert_eq!(*m.lock().unwrap(), UNCONTENDED as u64);
    ns / UNCONTENDED as f64
}

pub fn mutex_bench(rt: &Runtime, opts: &Opts) {
    for i in 0..WARMUP + opts.iters.unwrap_or(10) {
        let (c, u, b) = (mutex_contended(rt), mutex_uncontended(rt), mutex_blocking());
        if i >= WARMUP {
            report("mutex_contended", opts.threads, c, "ns/lock");
            report("mutex_uncontended", opts.threads, u, "ns/lock");
            report("mutex_blocking", opts.threads, b, "ns/lock");
        }
    }
}
