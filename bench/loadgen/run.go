package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/histogram"
)

// window is the measured part of a run; requests completed inside it count.
type window struct{ start, end time.Time }

// tally is one worker's record of the window.
type tally struct {
	hist     histogram.Histogram
	requests int64
	errors   map[string]int64
	first    string
	// cpu is the CPU times at the window's start and end (the merged
	// tally only).
	cpu [2]cpuSample
}

func (t *tally) fail(kind, detail string) {
	if t.errors == nil {
		t.errors = make(map[string]int64)
	}
	t.errors[kind]++
	if t.first == "" {
		t.first = kind + ": " + detail
	}
}

// runConfig is what a run needs.
type runConfig struct {
	addr        string
	connections int
	warmup      time.Duration // at least; cycling also waits for one full round
	maxWarmup   time.Duration // a run whose warm-up lasts longer fails
	duration    time.Duration
	timeout     time.Duration // per request
	expectJWT   bool          // a 200 without a backend JWT upstream is an error
	watch       []watched     // processes whose CPU time the window accounts
	src         source
}

// run drives cfg.connections closed-loop workers: a warm-up, then the
// measured window. It returns the workers' merged tally.
func run(ctx context.Context, cfg runConfig) (*tally, error) {
	var win atomic.Pointer[window]
	var stop atomic.Bool
	tallies := make([]tally, cfg.connections)
	errs := make([]error, cfg.connections)
	var wg sync.WaitGroup
	for w := range cfg.connections {
		wg.Go(func() {
			errs[w] = worker(cfg, &win, &stop, &tallies[w])
		})
	}
	began := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Since(began) < cfg.warmup || !cfg.src.warm() {
		if time.Since(began) > cfg.maxWarmup {
			stop.Store(true)
			wg.Wait()
			return nil, fmt.Errorf("warm-up did not finish within %v", cfg.maxWarmup)
		}
		select {
		case <-ctx.Done():
			stop.Store(true)
			wg.Wait()
			return nil, fmt.Errorf("interrupted during warm-up: %w", ctx.Err())
		case <-tick.C:
		}
	}
	now := time.Now()
	win.Store(&window{start: now, end: now.Add(cfg.duration)})
	total := &tally{}
	total.cpu[0] = sampleCPU(cfg.watch)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	interrupted := func() (*tally, error) {
		stop.Store(true)
		<-done
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	select {
	case <-time.After(time.Until(now.Add(cfg.duration))):
	case <-ctx.Done():
		return interrupted()
	}
	total.cpu[1] = sampleCPU(cfg.watch)
	select {
	case <-done:
	case <-ctx.Done():
		return interrupted()
	}
	for i := range tallies {
		t := &tallies[i]
		if errs[i] != nil {
			return nil, errs[i]
		}
		total.hist.Merge(&t.hist)
		total.requests += t.requests
		for k, n := range t.errors {
			if total.errors == nil {
				total.errors = make(map[string]int64)
			}
			total.errors[k] += n
		}
		if total.first == "" {
			total.first = t.first
		}
	}
	return total, nil
}

// worker sends requests one after another on its connection until the
// window ends or the run is stopped.
func worker(cfg runConfig, win *atomic.Pointer[window], stop *atomic.Bool, t *tally) error {
	c := newConn(cfg.addr, cfg.timeout)
	defer c.close()
	for !stop.Load() {
		if w := win.Load(); w != nil && !time.Now().Before(w.end) {
			return nil
		}
		token, err := cfg.src.next()
		if err != nil {
			return err
		}
		t0 := time.Now()
		a, err := c.do(token)
		t1 := time.Now()
		w := win.Load()
		if w == nil || t1.Before(w.start) || t1.After(w.end) {
			if err != nil {
				time.Sleep(10 * time.Millisecond) // do not spin on a refused dial
			}
			continue
		}
		t.requests++
		switch {
		case err != nil:
			t.fail(errKind(err), err.Error())
			time.Sleep(10 * time.Millisecond)
			continue
		case a.status != http.StatusOK:
			t.fail(fmt.Sprintf("status %d", a.status), http.StatusText(a.status))
		case cfg.expectJWT && !a.sawJWT:
			t.fail("no backend JWT", "the upstream got no "+benchkit.BackendHeader+" header")
		}
		t.hist.Record(t1.Sub(t0))
	}
	return nil
}
