// A sync.Mutex contended by WORKERS goroutines (GOMAXPROCS 4): heavy is locked in lockHeavy() and
// unlocked in unlockHeavy(), held about 30 us by every worker in turn. Every 100 ms each worker
// also blocks (a channel receive, then a 25 ms sleep), so the runtime's Ms go idle.
// Go's own mutex profile is on (every contention event); at the end it prints
// `mutex_delay_seconds S` (the profile's total sync.Mutex delay), `lock_wait_seconds S` (the
// workers' own clock around heavy.Lock()) and `heavy_ops N`.
// Usage: go_mutex SECONDS [WORKERS].
package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	heavy    sync.Mutex
	heavyOps int64
	waitedNs int64
	stop     int32
)

//go:noinline
func lockHeavy() {
	start := time.Now()
	heavy.Lock()
	atomic.AddInt64(&waitedNs, int64(time.Since(start)))
}

//go:noinline
func unlockHeavy() { heavy.Unlock() }

func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

func worker(pause <-chan struct{}, done *sync.WaitGroup) {
	defer done.Done()
	for atomic.LoadInt32(&stop) == 0 {
		select {
		case <-pause:
			// Blocked on nothing to do: the goroutine parks and its M goes idle.
			time.Sleep(25 * time.Millisecond)
		default:
		}
		lockHeavy()
		heavyOps++
		spin(30 * time.Microsecond)
		unlockHeavy()
		spin(5 * time.Microsecond)
	}
}

// mutexDelay is the mutex profile's total delay in seconds (its debug text: cycles per second,
// then `cycles count @ pcs` per call path).
func mutexDelay() float64 {
	var b bytes.Buffer
	pprof.Lookup("mutex").WriteTo(&b, 1)
	perSecond, cycles := 0.0, 0.0
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "cycles/second=") {
			perSecond, _ = strconv.ParseFloat(strings.TrimPrefix(line, "cycles/second="), 64)
		} else if f := strings.Fields(line); len(f) > 2 && f[2] == "@" {
			c, _ := strconv.ParseFloat(f[0], 64)
			cycles += c
		}
	}
	if perSecond == 0 {
		return 0
	}
	return cycles / perSecond
}

func main() {
	seconds, workers := 2, 4
	if len(os.Args) > 1 {
		seconds, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		workers, _ = strconv.Atoi(os.Args[2])
	}
	runtime.GOMAXPROCS(4)
	runtime.SetMutexProfileFraction(1)
	pause := make(chan struct{})
	var done sync.WaitGroup
	for i := 0; i < workers; i++ {
		done.Add(1)
		go worker(pause, &done)
	}
	end := time.Now().Add(time.Duration(seconds) * time.Second)
	for time.Now().Before(end) {
		time.Sleep(100 * time.Millisecond)
		// Every worker takes one pause: then all of them sleep at once.
		for i := 0; i < workers; i++ {
			pause <- struct{}{}
		}
	}
	atomic.StoreInt32(&stop, 1)
	done.Wait()
	fmt.Printf("mutex_delay_seconds %.6f\n", mutexDelay())
	fmt.Printf("lock_wait_seconds %.6f\n", float64(atomic.LoadInt64(&waitedNs))/1e9)
	fmt.Printf("heavy_ops %d\n", heavyOps)
}
