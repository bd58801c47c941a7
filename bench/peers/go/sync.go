// mpsc and mutex workloads of the Go peer, with the parameters defined at the top of
// bench/mpsc.c and bench/mutex.c: a buffered channel of capacity 1024 for the bounded
// mpsc channel, sync.Mutex contended by goroutines.
package main

import (
	"sync"
	"time"
)

const (
	syncMessages    = 100000
	syncCapacity    = 1024
	syncTasks       = 8
	syncLocks       = 10000
	syncUncontended = 1000000
)

// mpscOnce: one consumer goroutine, `producers` goroutines sharing the sends; msg/s.
func mpscOnce(producers int) float64 {
	start := time.Now()
	ch := make(chan int64, syncCapacity)
	done := make(chan int)
	go func() {
		n := 0
		for range ch {
			n++
		}
		done <- n
	}()
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); i < int64(syncMessages/producers); i++ {
				ch <- i
			}
		}()
	}
	go func() { wg.Wait(); close(ch) }()
	if n := <-done; n != syncMessages {
		panic("mpsc: lost messages")
	}
	return float64(syncMessages) / time.Since(start).Seconds()
}

func mpscBench(opts options) {
	for i := 0; i < warmup+iterations(opts, 10); i++ {
		p1, p2 := mpscOnce(1), mpscOnce(2)
		if i >= warmup {
			report("mpsc_p1", opts.threads, p1, "msg/s")
			report("mpsc_p2", opts.threads, p2, "msg/s")
		}
	}
}

// mutexContended: syncTasks goroutines each lock, increment, unlock syncLocks times.
func mutexContended() float64 {
	var m sync.Mutex
	counter := 0
	start := time.Now()
	var wg sync.WaitGroup
	for t := 0; t < syncTasks; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < syncLocks; i++ {
				m.Lock()
				counter++
				m.Unlock()
			}
		}()
	}
	wg.Wait()
	if counter != syncTasks*syncLocks {
		panic("mutex: lost increments")
	}
	return float64(time.Since(start).Nanoseconds()) / float64(syncTasks*syncLocks)
}

func mutexUncontended() float64 {
	var m sync.Mutex
	counter := 0
	start := time.Now()
	for i := 0; i < syncUncontended; i++ {
		m.Lock()
		counter++
		m.Unlock()
	}
	if counter != syncUncontended {
		panic("mutex: lost increments")
	}
	return float64(time.Since(start).Nanoseconds()) / float64(syncUncontended)
}

// mutexBench: Go has one mutex for goroutines and threads alike, so the blocking
// reference (mutex_blocking) is the uncontended sync.Mutex loop measured again.
func mutexBench(opts options) {
	for i := 0; i < warmup+iterations(opts, 10); i++ {
		c, u, b := mutexContended(), mutexUncontended(), mutexUncontended()
		if i >= warmup {
			report("mutex_contended", opts.threads, c, "ns/lock")
			report("mutex_uncontended", opts.threads, u, "ns/lock")
			report("mutex_blocking", opts.threads, b, "ns/lock")
		}
	}
}
