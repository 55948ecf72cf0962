// Command gopeer measures etcd's own Go lock recipe, clientv3/concurrency.Mutex, with the same
// workloads as `etcdlock bench locks` and `etcdlock bench throughput`, and prints one JSON
// line per measurement in the same shape (with "client":"go-concurrency"), so scripts/bench
// can put the two side by side. Built by scripts/bench --peers against Debian's
// golang-etcd-server-dev (GO111MODULE=off, GOPATH=/usr/share/gocode).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

const client = "go-concurrency"

func main() {
	endpoints := flag.String("endpoints", "http://127.0.0.1:2379", "comma-separated etcd endpoints")
	requests := flag.Int("requests", 2000, "uncontended lock+unlock cycles to time")
	seconds := flag.Float64("seconds", 5, "length of each throughput phase")
	lockers := flag.String("lockers", "1,8,32", "throughput phases: lockers on locks of their own")
	contenders := flag.Int("contenders", 16, "tasks contending for one lock")
	run := flag.String("run", strconv.FormatInt(time.Now().UnixNano(), 36), "a name unique to this run")
	flag.Parse()

	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: 5 * time.Second})
	check(err)
	defer cli.Close()
	prefix := "/etcdlock-bench/go/" + *run + "/"

	uncontended(cli, prefix+"solo", *requests)
	for _, text := range strings.Split(*lockers, ",") {
		n, err := strconv.Atoi(text)
		check(err)
		throughput(cli, prefix+"own-"+text+"-", n, time.Duration(*seconds*float64(time.Second)))
	}
	cycles := *requests / 4
	if cycles < *contenders*4 {
		cycles = *contenders * 4
	}
	contended(cli, prefix+"hot", *contenders, cycles)
}

// uncontended times acquire and lock+unlock on a free lock, after 50 untimed cycles.
func uncontended(cli *clientv3.Client, name string, requests int) {
	session, err := concurrency.NewSession(cli, concurrency.WithTTL(30))
	check(err)
	defer session.Close()
	mutex := concurrency.NewMutex(session, name)
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		check(mutex.Lock(ctx))
		check(mutex.Unlock(ctx))
	}
	acquire := make([]time.Duration, 0, requests)
	cycle := make([]time.Duration, 0, requests)
	for i := 0; i < requests; i++ {
		start := time.Now()
		check(mutex.Lock(ctx))
		acquire = append(acquire, time.Since(start))
		check(mutex.Unlock(ctx))
		cycle = append(cycle, time.Since(start))
	}
	report("lock_acquire_uncontended", acquire)
	report("lock_unlock_cycle", cycle)
}

// throughput counts lock+unlock cycles of `lockers` goroutines, each on a lock of its own, in
// one session, for `length` after half a second of warm-up.
func throughput(cli *clientv3.Client, prefix string, lockers int, length time.Duration) {
	session, err := concurrency.NewSession(cli, concurrency.WithTTL(30))
	check(err)
	defer session.Close()
	start := time.Now().Add(500 * time.Millisecond)
	end := start.Add(length)
	var cycles sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := 0; i < lockers; i++ {
		cycles.Add(1)
		go func(index int) {
			defer cycles.Done()
			mutex := concurrency.NewMutex(session, prefix+strconv.Itoa(index))
			ctx := context.Background()
			counted := 0
			for time.Now().Before(end) {
				check(mutex.Lock(ctx))
				check(mutex.Unlock(ctx))
				if !time.Now().Before(start) {
					counted++
				}
			}
			mu.Lock()
			total += counted
			mu.Unlock()
		}(i)
	}
	cycles.Wait()
	elapsed := time.Since(start).Seconds()
	fmt.Printf("{\"client\":%q,\"op\":\"throughput\",\"lockers\":%d,\"cycles\":%d,\"cycles_per_second\":%.1f}\n",
		client, lockers, total, float64(total)/elapsed)
}

// handoffs records, for each acquisition, the time since the previous holder began releasing.
type handoffs struct {
	mu        sync.Mutex
	released  time.Time
	samples   []time.Duration
	remaining int
}

func (h *handoffs) acquired() bool {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.released.IsZero() {
		h.samples = append(h.samples, now.Sub(h.released))
	}
	h.remaining--
	return h.remaining >= 0
}

func (h *handoffs) releasing() {
	h.mu.Lock()
	h.released = time.Now()
	h.mu.Unlock()
}

// contended runs `contenders` sessions looping lock → unlock on one lock with no hold time, as
// `etcdlock bench locks` does, until `cycles` acquisitions in all.
func contended(cli *clientv3.Client, name string, contenders, cycles int) {
	recorder := &handoffs{remaining: cycles}
	start := time.Now()
	var group sync.WaitGroup
	for i := 0; i < contenders; i++ {
		group.Add(1)
		go func() {
			defer group.Done()
			session, err := concurrency.NewSession(cli, concurrency.WithTTL(30))
			check(err)
			defer session.Close()
			mutex := concurrency.NewMutex(session, name)
			ctx := context.Background()
			for {
				check(mutex.Lock(ctx))
				more := recorder.acquired()
				recorder.releasing()
				check(mutex.Unlock(ctx))
				if !more {
					return
				}
			}
		}()
	}
	group.Wait()
	elapsed := time.Since(start).Seconds()
	report("handoff_16_contenders", recorder.samples)
	fmt.Printf("{\"client\":%q,\"op\":\"contended_16\",\"cycles\":%d,\"cycles_per_second\":%.1f}\n",
		client, len(recorder.samples)+1, float64(len(recorder.samples)+1)/elapsed)
}

func report(op string, samples []time.Duration) {
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	p99 := len(samples) * 99 / 100
	if p99 >= len(samples) {
		p99 = len(samples) - 1
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	fmt.Printf("{\"client\":%q,\"op\":%q,\"requests\":%d,\"p50_ms\":%.4f,\"p99_ms\":%.4f}\n",
		client, op, len(samples), ms(samples[len(samples)/2]), ms(samples[p99]))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeer:", err)
		os.Exit(1)
	}
}
