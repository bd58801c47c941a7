// Go peer of libasyncrt's benchmark suite.
//
// Implements the workloads of shared BENCH.md with goroutines and channels (standard
// library only), with exactly the parameters given there, under the command-line
// contract shared by every implementation (see ../README.md):
//
//	peer-go <workload> [--threads N] [--iters K] [--port P] [--file PATH]
//
// One line per measured iteration on stdout:
//
//	workload=<name> impl=go threads=<n> value=<number> unit=<unit>
//
// Each workload follows the Tokio peer's structure one for one (goroutine for task,
// buffered channel of capacity 1 for oneshot, runtime.Gosched for yield), so that the
// two peers measure the same thing.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const implName = "go"

// warmup is the number of silent iterations of the scheduler workloads, run before
// anything is measured so that thread start-up and heap growth are not timed.
const warmup = 5

type options struct {
	workload string
	threads  int
	iters    int // 0: the workload's default
	port     int
	file     string
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: peer-go <spawn_many|yield_many|ping_pong|chained_spawn|idle_task_memory|timers|tcp_echo|file_read> [--threads N] [--iters K] [--port P] [--file PATH]")
	os.Exit(2)
}

func parseArgs() options {
	args := os.Args[1:]
	if len(args) == 0 {
		usage()
	}
	opts := options{workload: args[0], threads: 2}
	for i := 1; i < len(args); i += 2 {
		if i+1 >= len(args) {
			usage()
		}
		if args[i] == "--file" {
			opts.file = args[i+1]
			continue
		}
		v, err := strconv.Atoi(args[i+1])
		if err != nil || v < 0 {
			usage()
		}
		switch args[i] {
		case "--threads":
			opts.threads = v
		case "--iters":
			opts.iters = v
		case "--port":
			opts.port = v
		default:
			usage()
		}
	}
	if opts.threads == 0 {
		usage()
	}
	return opts
}

// report writes one result line; os.Stdout is unbuffered, so the runner sees it at once.
func report(workload string, threads int, value float64, unit string) {
	fmt.Printf("workload=%s impl=%s threads=%d value=%.2f unit=%s\n", workload, implName, threads, value, unit)
}

// rssBytes is the resident set size, from the second field of /proc/self/statm (pages).
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	fields := strings.Fields(string(data))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		panic(err)
	}
	return pages * int64(os.Getpagesize())
}

// splitMix64 is the same generator, with the same seed, in every implementation, so
// that all of them sleep the very same sequence of durations in the timers workload.
type splitMix64 struct{ state uint64 }

func (r *splitMix64) next() uint64 {
	r.state += 0x9E3779B97F4A7C15
	z := r.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func iterations(opts options, def int) int {
	if opts.iters > 0 {
		return opts.iters
	}
	return def
}

// measure runs warm-up iterations silently, then the measured ones; body returns the
// elapsed time of one iteration, divided by ops for the per-op figure.
func measure(opts options, unit string, ops int, body func() time.Duration) {
	iters := iterations(opts, 50)
	for i := 0; i < warmup+iters; i++ {
		elapsed := body()
		if i >= warmup {
			report(opts.workload, opts.threads, float64(elapsed.Nanoseconds())/float64(ops), unit)
		}
	}
}

// spawnMany: spawn 10,000 goroutines that each decrement a shared atomic counter; the
// one that brings it to zero signals completion.
func spawnMany(opts options) {
	const numSpawn = 10000
	done := make(chan struct{}, 1)
	var rem int64
	measure(opts, "ns/task", numSpawn, func() time.Duration {
		atomic.StoreInt64(&rem, numSpawn)
		start := time.Now()
		for i := 0; i < numSpawn; i++ {
			go func() {
				if atomic.AddInt64(&rem, -1) == 0 {
					done <- struct{}{}
				}
			}()
		}
		<-done
		return time.Since(start)
	})
}

// yieldMany: 200 goroutines that each yield 1,000 times.
func yieldMany(opts options) {
	const numYield = 1000
	const tasks = 200
	done := make(chan struct{}, tasks)
	measure(opts, "ns/yield", numYield*tasks, func() time.Duration {
		start := time.Now()
		for i := 0; i < tasks; i++ {
			go func() {
				for j := 0; j < numYield; j++ {
					runtime.Gosched()
				}
				done <- struct{}{}
			}()
		}
		for i := 0; i < tasks; i++ {
			<-done
		}
		return time.Since(start)
	})
}

// pingPong: 1,000 goroutines; each spawns a partner, sends it a message through a
// one-shot channel (buffered, capacity 1) and waits for the answer through another.
func pingPong(opts options) {
	const numPings = 1000
	done := make(chan struct{}, 1)
	var rem int64
	measure(opts, "ns/roundtrip", numPings, func() time.Duration {
		atomic.StoreInt64(&rem, numPings)
		start := time.Now()
		go func() {
			for i := 0; i < numPings; i++ {
				go func() {
					ping := make(chan struct{}, 1)
					pong := make(chan struct{}, 1)
					go func() {
						<-ping
						pong <- struct{}{}
					}()
					ping <- struct{}{}
					<-pong
					if atomic.AddInt64(&rem, -1) == 0 {
						done <- struct{}{}
					}
				}()
			}
		}()
		<-done
		return time.Since(start)
	})
}

// chainedSpawn: a goroutine spawns a goroutine that spawns a goroutine ... 1,000 deep.
func chainedSpawn(opts options) {
	const depth = 1000
	done := make(chan struct{}, 1)
	var link func(n int)
	link = func(n int) {
		if n == 0 {
			done <- struct{}{}
			return
		}
		go link(n - 1)
	}
	measure(opts, "ns/spawn", depth, func() time.Duration {
		start := time.Now()
		go link(depth)
		<-done
		return time.Since(start)
	})
}

// batch is the state shared by all goroutines of one idle_task_memory or timers
// iteration; each goroutine gets one pointer to it, so the figure is the runtime's cost.
type batch struct {
	parked    int64         // goroutines that have started and are about to block
	remaining int64         // goroutines not finished; the last one closes done
	done      chan struct{} // closed when remaining reaches 0
	release   chan struct{} // closed to release the idle goroutines
}

func newBatch(n int) *batch {
	return &batch{remaining: int64(n), done: make(chan struct{}), release: make(chan struct{})}
}

func (b *batch) finishOne() {
	if atomic.AddInt64(&b.remaining, -1) == 0 {
		close(b.done)
	}
}

// waitParked polls until every goroutine has started; the wait is not timed.
func (b *batch) waitParked(n int) {
	for atomic.LoadInt64(&b.parked) < int64(n) {
		time.Sleep(time.Millisecond)
	}
}

func idleTask(b *batch) {
	atomic.AddInt64(&b.parked, 1)
	<-b.release
	b.finishOne()
}

// idleTaskMemory: 1,000,000 goroutines that each block on a channel that is only closed
// when they are released; resident set growth divided by the count. No warm-up: growth
// is measured against the resident set before the first iteration, so a later
// iteration that reuses freed memory still reports the full cost.
func idleTaskMemory(opts options) {
	const n = 1000000
	base := rssBytes()
	for it := iterations(opts, 1); it > 0; it-- {
		b := newBatch(n)
		for i := 0; i < n; i++ {
			go idleTask(b)
		}
		b.waitParked(n)
		grown := rssBytes() - base
		report(opts.workload, opts.threads, float64(grown)/n, "B/task")
		close(b.release)
		<-b.done
	}
}

func timerTask(b *batch, d time.Duration) {
	atomic.AddInt64(&b.parked, 1)
	time.Sleep(d)
	b.finishOne()
}

// timers: 1,000,000 goroutines that each sleep a random 1–1,000 ms (splitmix64, same
// seed everywhere). Time from the first spawn until the last woke, per timer; and
// resident set growth once every goroutine has started, per timer still pending then.
func timers(opts options) {
	const n = 1000000
	base := rssBytes()
	for it := iterations(opts, 1); it > 0; it-- {
		b := newBatch(n)
		rng := splitMix64{0}
		start := time.Now()
		for i := 0; i < n; i++ {
			ms := 1 + rng.next()%1000
			go timerTask(b, time.Duration(ms)*time.Millisecond)
		}
		b.waitParked(n)
		grown := rssBytes() - base
		pending := atomic.LoadInt64(&b.remaining)
		if pending < 1 {
			pending = 1
		}
		<-b.done
		elapsed := time.Since(start)
		report("timers", opts.threads, float64(elapsed.Nanoseconds())/n, "ns/timer")
		report("timers_memory", opts.threads, float64(grown)/float64(pending), "B/timer")
	}
}

// tcpEcho serves 127.0.0.1:port with one goroutine per connection echoing what it reads,
// until killed. TCP_NODELAY on (Go's default), 4 KiB buffer: as in every implementation.
func tcpEcho(opts options) {
	if opts.port == 0 {
		fmt.Fprintln(os.Stderr, "tcp_echo needs --port P")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", opts.port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "tcp_echo: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "tcp_echo: listening on 127.0.0.1:%d\n", opts.port)
	for {
		conn, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcp_echo: accept: %v\n", err)
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			c.(*net.TCPConn).SetNoDelay(true)
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil { // io.EOF too: the peer closed
					return
				}
			}
		}(conn)
	}
}

// cpuMs is the CPU time (user + system) of the whole process so far, in ms.
func cpuMs() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

// fileRead: read the file --file (the runner makes a 256 MiB one, in the page cache) in
// 64 KiB blocks with 32 reads in flight: 32 goroutines, each with its own buffer, claim
// block indices from a shared counter and read them with os.File.ReadAt (a blocking
// pread; the runtime hands the P to another thread while it blocks). Every pass checks
// that each read was whole and that the bytes add up to the file size. Per pass: MiB/s,
// and the process's CPU time (user + system, all threads) per GiB.
func fileRead(opts options) {
	const bs = 64 * 1024
	const depth = 32
	const passWarmup = 2 // as libasyncrt's program: 256 MiB passes are long
	if opts.file == "" {
		usage()
	}
	f, err := os.Open(opts.file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer-go:", err)
		os.Exit(1)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		panic(err)
	}
	size := st.Size()
	nblocks := (size + bs - 1) / bs
	iters := opts.iters
	if iters == 0 {
		iters = 10
	}
	for i := 0; i < passWarmup+iters; i++ {
		var next, total int64
		var failed int32
		var wg sync.WaitGroup
		start, cpu0 := time.Now(), cpuMs()
		for g := 0; g < depth; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, bs)
				var bytes int64
				for {
					idx := atomic.AddInt64(&next, 1) - 1
					if idx >= nblocks {
						break
					}
					off := idx * bs
					want := size - off
					if want > bs {
						want = bs
					}
					n, err := f.ReadAt(buf[:want], off)
					if int64(n) != want {
						fmt.Fprintf(os.Stderr, "peer-go: ReadAt %d: %d bytes of %d: %v\n", off, n, want, err)
						atomic.StoreInt32(&failed, 1)
						break
					}
					bytes += int64(n)
				}
				atomic.AddInt64(&total, bytes)
			}()
		}
		wg.Wait()
		elapsed, cpu := time.Since(start), cpuMs()-cpu0
		if failed != 0 || total != size {
			fmt.Fprintf(os.Stderr, "peer-go: read %d of %d bytes\n", total, size)
			os.Exit(1)
		}
		if i >= passWarmup {
			report("file_read", opts.threads, float64(size)/(1<<20)/elapsed.Seconds(), "MiB/s")
			report("file_read_cpu", opts.threads, cpu/(float64(size)/(1<<30)), "ms/GiB")
		}
	}
}

func main() {
	opts := parseArgs()
	runtime.GOMAXPROCS(opts.threads)
	switch opts.workload {
	case "spawn_many":
		spawnMany(opts)
	case "yield_many":
		yieldMany(opts)
	case "ping_pong":
		pingPong(opts)
	case "chained_spawn":
		chainedSpawn(opts)
	case "idle_task_memory":
		idleTaskMemory(opts)
	case "timers":
		timers(opts)
	case "tcp_echo":
		tcpEcho(opts)
	case "file_read":
		fileRead(opts)
	case "mpsc":
		mpscBench(opts)
	case "mutex":
		mutexBench(opts)
	default:
		usage()
	}
}
