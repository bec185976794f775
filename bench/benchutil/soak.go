package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

// soakSample is one reading of Caddy during the soak.
type soakSample struct {
	T        float64 `json:"t"`        // seconds since the soak began
	Requests int64   `json:"requests"` // backend_jwt requests so far, every outcome
	Refused  int64   `json:"refused"`  // of which refused (an outcome other than ok)
	RSSKiB   int64   `json:"rss_kib"`  // VmRSS
	// HeapInuse and HeapAlloc are go_memstats_heap_inuse_bytes and
	// go_memstats_heap_alloc_bytes of /metrics, as they were (between
	// collections); LiveInuse and LiveAlloc the same right after a
	// collection (/debug/pprof/heap?gc=1): the memory Caddy keeps.
	HeapInuse int64 `json:"heap_inuse"`
	HeapAlloc int64 `json:"heap_alloc"`
	LiveInuse int64 `json:"live_inuse"`
	LiveAlloc int64 `json:"live_alloc"`
	// Cache lookups so far, by cache and result.
	ValHit  int64 `json:"validation_hits"`
	ValMiss int64 `json:"validation_misses"`
	GenHit  int64 `json:"generation_hits"`
	GenMiss int64 `json:"generation_misses"`
}

// soakCmd runs the load generator (the command after --) against Caddy,
// samples Caddy's memory and counters every interval while it runs and
// once after, then prints the samples, the load's figures and the verdict.
// It fails if a request failed or the memory was not bounded.
func soakCmd(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	pid := fs.Int("pid", 0, "Caddy's process id (for VmRSS)")
	admin := fs.String("admin", "", "Caddy's admin endpoint, http://127.0.0.1:PORT")
	interval := fs.Duration("interval", 5*time.Second, "time between samples")
	loadOut := fs.String("load-result", "", "the JSON result the load generator writes (its -out)")
	samplesOut := fs.String("out", "", "write the samples here as JSON")
	tokens := fs.Int("tokens", 50000, "distinct tokens the load cycles through")
	valCap := fs.Int("validation-capacity", 10000, "the validated-token cache's capacity")
	genCap := fs.Int("generation-capacity", 10000, "the generated-token cache's capacity")
	growth := fs.Float64("max-growth", 1.10, "bounded: the last third's highest heap at most this times the middle third's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	load := fs.Args()
	switch {
	case *pid <= 0 || *admin == "" || *loadOut == "":
		return errors.New("-pid, -admin and -load-result are required")
	case len(load) == 0:
		return errors.New("want the load generator's command after the flags (after --)")
	case *interval < 100*time.Millisecond:
		return fmt.Errorf("-interval %v: want at least 100ms", *interval)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &sampler{pid: *pid, admin: strings.TrimSuffix(*admin, "/"), client: &http.Client{Timeout: 10 * time.Second}, began: time.Now()}
	first, err := s.sample()
	if err != nil {
		return fmt.Errorf("the first sample: %w", err)
	}
	samples := []soakSample{first}
	printSampleHeader()
	printSample(first, nil)

	cmd := exec.CommandContext(ctx, load[0], load[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the load generator: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	var loadErr error
	for running := true; running; {
		select {
		case loadErr = <-done:
			running = false
		case <-tick.C:
		}
		if ctx.Err() != nil {
			if running {
				<-done
			}
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
		smp, err := s.sample()
		if err != nil {
			if running {
				_ = cmd.Cancel()
				<-done
			}
			return fmt.Errorf("sampling at %.0fs: %w", time.Since(s.began).Seconds(), err)
		}
		printSample(smp, &samples[len(samples)-1])
		samples = append(samples, smp)
	}
	if *samplesOut != "" {
		if err := benchkit.WriteJSON(*samplesOut, samples); err != nil {
			return err
		}
	}
	var res benchkit.LoadResult
	if loadErr == nil {
		loadErr = benchkit.ReadJSON(*loadOut, &res)
	}
	v := judgeSoak(samples, soakLimits{tokens: *tokens, valCap: *valCap, genCap: *genCap, growth: *growth})
	printSoakReport(samples, &res, loadErr, v)
	if loadErr != nil || res.Errors > 0 || !v.ok() {
		return errors.New("the soak failed (see the verdict)")
	}
	return nil
}

// sampler reads Caddy's memory and counters.
type sampler struct {
	pid    int
	admin  string
	client *http.Client
	began  time.Time
}

func (s *sampler) sample() (soakSample, error) {
	smp := soakSample{T: time.Since(s.began).Seconds()}
	rss, err := vmRSS(s.pid)
	if err != nil {
		return smp, err
	}
	smp.RSSKiB = rss
	metrics, err := s.get("/metrics")
	if err != nil {
		return smp, err
	}
	for line := range strings.SplitSeq(metrics, "\n") {
		name, value, ok := metricLine(line)
		if !ok {
			continue
		}
		switch {
		case name == "go_memstats_heap_inuse_bytes":
			smp.HeapInuse = int64(value)
		case name == "go_memstats_heap_alloc_bytes":
			smp.HeapAlloc = int64(value)
		case strings.HasPrefix(name, "caddy_backend_jwt_requests_total{"):
			smp.Requests += int64(value)
			if !strings.Contains(name, `outcome="ok"`) {
				smp.Refused += int64(value)
			}
		case name == `caddy_backend_jwt_cache_lookups_total{cache="validation",result="hit"}`:
			smp.ValHit = int64(value)
		case name == `caddy_backend_jwt_cache_lookups_total{cache="validation",result="miss"}`:
			smp.ValMiss = int64(value)
		case name == `caddy_backend_jwt_cache_lookups_total{cache="generation",result="hit"}`:
			smp.GenHit = int64(value)
		case name == `caddy_backend_jwt_cache_lookups_total{cache="generation",result="miss"}`:
			smp.GenMiss = int64(value)
		}
	}
	if smp.HeapInuse == 0 {
		return smp, errors.New("/metrics has no go_memstats_heap_inuse_bytes")
	}
	// gc=1 collects garbage first; debug=1 ends with runtime.MemStats.
	heap, err := s.get("/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return smp, err
	}
	for line := range strings.SplitSeq(heap, "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			smp.LiveAlloc, _ = strconv.ParseInt(v, 10, 64)
		} else if v, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
			smp.LiveInuse, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if smp.LiveInuse == 0 {
		return smp, errors.New("/debug/pprof/heap?debug=1 shows no HeapInuse")
	}
	return smp, nil
}

func (s *sampler) get(path string) (string, error) {
	resp, err := s.client.Get(s.admin + path)
	if err != nil {
		return "", fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("admin API %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("admin API %s: %s", path, resp.Status)
	}
	return string(body), nil
}

// metricLine splits a Prometheus text line into its name (with labels)
// and value; comments and blank lines are not metrics.
func metricLine(line string) (string, float64, bool) {
	if line == "" || line[0] == '#' {
		return "", 0, false
	}
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(line[i+1:], 64)
	if err != nil {
		return "", 0, false
	}
	return line[:i], v, true
}

// vmRSS reads a process's resident memory from /proc, in KiB.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("Caddy's memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// soakLimits is what the verdict checks against.
type soakLimits struct {
	tokens, valCap, genCap int
	growth                 float64
}

// soakVerdict is the judgement of a soak's samples.
type soakVerdict struct {
	judged       bool   // enough samples in each third
	why          string // when not judged
	middle, last [2]int // sample index ranges [from, to) of the thirds
	// The highest live heap, heap in use and RSS of the middle and the
	// last third, in bytes, and whether the heap's stayed within growth.
	liveMid, liveLast   int64
	inuseMid, inuseLast int64
	rssMid, rssLast     int64
	liveOK, inuseOK     bool
	// rounds is how many times the load went through the tokens. The hit
	// ratios are from the second round on, judged when the run got far
	// enough: an unbounded cache would hit nearly every request there.
	rounds           float64
	valHits, genHits float64
	hitsJudged       bool
	valOK, genOK     bool
	refused          int64 // requests Caddy refused
}

func (v soakVerdict) ok() bool {
	return v.judged && v.liveOK && v.inuseOK && (!v.hitsJudged || v.valOK && v.genOK) && v.refused == 0
}

// judgeSoak splits the samples taken under load into thirds of time and
// compares the highest heap of the last third with the middle third's.
func judgeSoak(samples []soakSample, lim soakLimits) soakVerdict {
	var v soakVerdict
	last := samples[len(samples)-1]
	v.refused = last.Refused - samples[0].Refused
	// The load begins at the last sample before requests start counting.
	start := 0
	for i := 1; i < len(samples) && samples[i].Requests == samples[0].Requests; i++ {
		start = i
	}
	t0, t1 := samples[start].T, last.T
	third := (t1 - t0) / 3
	v.middle, v.last = [2]int{-1, -1}, [2]int{-1, len(samples)}
	for i := start; i < len(samples); i++ {
		switch t := samples[i].T; {
		case t >= t0+third && t < t0+2*third && v.middle[0] < 0:
			v.middle[0] = i
		case t >= t0+2*third && v.last[0] < 0:
			v.middle[1], v.last[0] = i, i
		}
	}
	if v.middle[0] < 0 || v.last[0] < 0 || v.middle[1]-v.middle[0] < 2 || v.last[1]-v.last[0] < 2 {
		v.why = "fewer than two samples in the middle or the last third: run longer or sample more often"
		return v
	}
	v.judged = true
	highest := func(r [2]int, f func(soakSample) int64) int64 {
		var m int64
		for _, s := range samples[r[0]:r[1]] {
			m = max(m, f(s))
		}
		return m
	}
	live := func(s soakSample) int64 { return s.LiveAlloc }
	inuse := func(s soakSample) int64 { return s.LiveInuse }
	rss := func(s soakSample) int64 { return s.RSSKiB << 10 }
	v.liveMid, v.liveLast = highest(v.middle, live), highest(v.last, live)
	v.inuseMid, v.inuseLast = highest(v.middle, inuse), highest(v.last, inuse)
	v.rssMid, v.rssLast = highest(v.middle, rss), highest(v.last, rss)
	v.liveOK = float64(v.liveLast) <= lim.growth*float64(v.liveMid)
	v.inuseOK = float64(v.inuseLast) <= lim.growth*float64(v.inuseMid)

	// From the sample at which every token had been sent once, a cache of
	// at most capacity entries can serve at most capacity of every round
	// of tokens from memory: the hit ratio stays below capacity/tokens.
	base := samples[0]
	v.rounds = float64(last.Requests-base.Requests) / float64(lim.tokens)
	for i := start; i < len(samples); i++ {
		if samples[i].Requests-base.Requests >= int64(lim.tokens) {
			from := samples[i]
			ratio := func(hit, miss int64, hit0, miss0 int64) float64 {
				n := (hit - hit0) + (miss - miss0)
				if n == 0 {
					return 0
				}
				return float64(hit-hit0) / float64(n)
			}
			v.valHits = ratio(last.ValHit, last.ValMiss, from.ValHit, from.ValMiss)
			v.genHits = ratio(last.GenHit, last.GenMiss, from.GenHit, from.GenMiss)
			v.hitsJudged = last.Requests-from.Requests >= int64(lim.tokens)/10
			v.valOK = v.valHits <= float64(lim.valCap)/float64(lim.tokens)+0.02
			v.genOK = v.genHits <= float64(lim.genCap)/float64(lim.tokens)+0.02
			break
		}
	}
	return v
}

func mibOf(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func printSampleHeader() {
	fmt.Printf("%7s %10s %7s %8s %9s %9s %9s %9s %7s %7s\n",
		"t(s)", "requests", "req/s", "RSS MiB", "inuse MiB", "alloc MiB", "live MiB", "liveuse", "val.hit", "gen.hit")
}

// printSample prints one row of the table; the rates are since prev.
func printSample(s soakSample, prev *soakSample) {
	rate, val, gen := "-", "-", "-"
	if prev != nil && s.T > prev.T {
		rate = fmt.Sprintf("%.0f", float64(s.Requests-prev.Requests)/(s.T-prev.T))
		pct := func(h, m, h0, m0 int64) string {
			if n := h - h0 + m - m0; n > 0 {
				return fmt.Sprintf("%.1f%%", 100*float64(h-h0)/float64(n))
			}
			return "-"
		}
		val = pct(s.ValHit, s.ValMiss, prev.ValHit, prev.ValMiss)
		gen = pct(s.GenHit, s.GenMiss, prev.GenHit, prev.GenMiss)
	}
	fmt.Printf("%7.1f %10d %7s %8s %9s %9s %9s %9s %7s %7s\n", s.T, s.Requests, rate, mibOf(s.RSSKiB<<10),
		mibOf(s.HeapInuse), mibOf(s.HeapAlloc), mibOf(s.LiveAlloc), mibOf(s.LiveInuse), val, gen)
}

func printSoakReport(samples []soakSample, res *benchkit.LoadResult, loadErr error, v soakVerdict) {
	first, last := samples[0], samples[len(samples)-1]
	fmt.Println()
	fmt.Println("columns: requests = backend_jwt requests so far (Caddy's counter); inuse, alloc = Go heap as sampled;")
	fmt.Println("live, liveuse = heap allocated and in use right after a forced collection; val.hit, gen.hit =")
	fmt.Println("hit ratio of the validated-token and generated-token caches since the previous sample")
	fmt.Println()
	if loadErr != nil {
		fmt.Println("load generator: FAILED:", loadErr)
	} else {
		fmt.Printf("load: %d answers in the %.0fs window, %.0f req/s without error, p50 %v, p99 %v, errors %d\n",
			res.Requests, res.Seconds, res.RPS,
			time.Duration(res.P50).Round(time.Microsecond), time.Duration(res.P99).Round(time.Microsecond), res.Errors)
		for kind, n := range res.ErrorKinds {
			fmt.Printf("  %d %s\n", n, kind)
		}
		if res.FirstError != "" {
			fmt.Println("  first error:", res.FirstError)
		}
	}
	fmt.Printf("Caddy: %d requests, %d refused; RSS %s -> %s MiB, live heap %s -> %s MiB\n",
		last.Requests-first.Requests, v.refused, mibOf(first.RSSKiB<<10), mibOf(last.RSSKiB<<10),
		mibOf(first.LiveAlloc), mibOf(last.LiveAlloc))
	if !v.judged {
		fmt.Println("memory: NOT JUDGED:", v.why)
	} else {
		mark := func(ok bool) string {
			if ok {
				return "ok"
			}
			return "GROWING"
		}
		ratio := func(a, b int64) float64 {
			if b == 0 {
				return math.Inf(1)
			}
			return float64(a) / float64(b)
		}
		fmt.Printf("memory, highest in the middle third (%.0f-%.0fs) and the last third (%.0f-%.0fs):\n",
			samples[v.middle[0]].T, samples[v.middle[1]-1].T, samples[v.last[0]].T, samples[v.last[1]-1].T)
		fmt.Printf("  live heap        %7s -> %7s MiB  x%.3f  %s\n", mibOf(v.liveMid), mibOf(v.liveLast), ratio(v.liveLast, v.liveMid), mark(v.liveOK))
		fmt.Printf("  heap in use      %7s -> %7s MiB  x%.3f  %s\n", mibOf(v.inuseMid), mibOf(v.inuseLast), ratio(v.inuseLast, v.inuseMid), mark(v.inuseOK))
		fmt.Printf("  RSS (for information) %s -> %s MiB  x%.3f\n", mibOf(v.rssMid), mibOf(v.rssLast), ratio(v.rssLast, v.rssMid))
	}
	fmt.Printf("caches: %.2f rounds of the tokens; ", v.rounds)
	if v.hitsJudged {
		fmt.Printf("hit ratio from the second round on: validation %.2f%%, generation %.2f%% (an unbounded cache: ~100%%; at most capacity/tokens for a bounded one)\n",
			100*v.valHits, 100*v.genHits)
	} else {
		fmt.Println("too few requests after the first round to judge the caches by their hits; the heap decides")
	}
	verdict := "BOUNDED"
	switch {
	case loadErr != nil || res.Errors > 0 || v.refused > 0:
		verdict = "FAILED: requests failed"
	case !v.ok():
		verdict = "NOT BOUNDED"
	}
	fmt.Println("verdict:", verdict)
}
