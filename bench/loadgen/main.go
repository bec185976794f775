// Command loadgen is the benchmark's load generator: a fixed number of
// keep-alive HTTP/1.1 connections, each sending its next request as soon as
// the last is answered, for a warm-up and then a measured window. It writes
// the rate, the latency percentiles and the errors as JSON.
//
// Modes: none sends no token; cycle sends -tokens distinct access tokens
// round and round (warm-up lasts at least one round, so the window sees
// cache hits only); rotate sends them round and round too, with the window
// starting after -warmup alone (bench/soak.sh: more tokens than the caches
// hold); fresh sends every request a token never sent before (-tokens of
// them minted before the run, more on the spot if needed). With
// -tokens-file, the tokens minted ahead are read from a file that
// benchutil mint wrote with the same -issuer-key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	addr := flag.String("addr", "", "host:port of the server (required)")
	mode := flag.String("mode", "none", "none, cycle, rotate or fresh")
	conns := flag.Int("connections", 32, "keep-alive connections")
	duration := flag.Duration("duration", 10*time.Second, "measured window")
	warmup := flag.Duration("warmup", time.Second, "warm-up before the window")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout")
	keyFile := flag.String("issuer-key", "", "issuer private key (cycle, rotate, fresh)")
	tokenFile := flag.String("tokens-file", "", "read the tokens from this file (benchutil mint) instead of minting them")
	tokens := flag.Int("tokens", 1000, "distinct tokens (cycle, rotate) or tokens minted ahead (fresh)")
	expectJWT := flag.Bool("expect-jwt", false, "count an answer whose upstream saw no backend JWT as an error")
	cpuPids := flag.String("cpu-pids", "", "name=pid,...: processes whose CPU time per answer to report, besides loadgen's (Linux)")
	out := flag.String("out", "", "write the result as JSON here")
	flag.Parse()
	watch, err := parseWatched(*cpuPids)
	if err != nil {
		return err
	}
	switch {
	case *addr == "":
		return errors.New("-addr is required")
	case *conns < 1 || *conns > 10000:
		return fmt.Errorf("-connections %d: want 1 to 10000", *conns)
	case *duration <= 0 || *duration > time.Hour:
		return fmt.Errorf("-duration %v: want up to an hour", *duration)
	case *tokens < 1 || *tokens > 5_000_000:
		return fmt.Errorf("-tokens %d: want 1 to 5000000", *tokens)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	res := benchkit.LoadResult{Mode: *mode, Connections: *conns}
	src, err := newSource(*mode, *keyFile, *tokenFile, *tokens, &res)
	if err != nil {
		return err
	}
	cfg := runConfig{
		addr: *addr, connections: *conns, warmup: *warmup, maxWarmup: *warmup + time.Minute,
		duration: *duration, timeout: *timeout, expectJWT: *expectJWT, watch: watch, src: src,
	}
	t, err := run(ctx, cfg)
	if err != nil {
		return err
	}
	fillResult(&res, t, *duration, src)
	fmt.Printf("loadgen: %s, %d connections, %v: %d answers, %.0f req/s without error, p50 %v, p99 %v, errors %d\n",
		res.Mode, res.Connections, *duration, res.Requests, res.RPS,
		time.Duration(res.P50).Round(time.Microsecond), time.Duration(res.P99).Round(time.Microsecond), res.Errors)
	if res.CPUPerRequest != nil {
		fmt.Printf("loadgen: CPU per answer: %s; all cores %.0f%% busy\n", cpuText(res.CPUPerRequest), 100*res.MachineBusy)
	}
	if res.FirstError != "" {
		fmt.Println("loadgen: first error:", res.FirstError)
	}
	if res.MintedLive > 0 {
		fmt.Printf("loadgen: %d tokens were minted during the window (raise -tokens)\n", res.MintedLive)
	}
	if *out != "" {
		return benchkit.WriteJSON(*out, res)
	}
	return nil
}

// newSource makes the mode's token source, minting its tokens first or
// reading them from tokenFile.
func newSource(mode, keyFile, tokenFile string, n int, res *benchkit.LoadResult) (source, error) {
	if mode == "none" {
		return noTokens{}, nil
	}
	if mode != "cycle" && mode != "rotate" && mode != "fresh" {
		return nil, fmt.Errorf("-mode %q: want none, cycle, rotate or fresh", mode)
	}
	if keyFile == "" {
		return nil, fmt.Errorf("-mode %s needs -issuer-key", mode)
	}
	key, err := benchkit.LoadSigner(keyFile)
	if err != nil {
		return nil, err
	}
	m, err := benchkit.NewMinter(key)
	if err != nil {
		return nil, err
	}
	var tokens []string
	if tokenFile != "" {
		if tokens, err = benchkit.ReadTokens(tokenFile, n); err != nil {
			return nil, err
		}
		if len(tokens) < n && mode != "fresh" {
			return nil, fmt.Errorf("%s holds %d tokens; -mode %s needs %d", tokenFile, len(tokens), mode, n)
		}
	} else {
		began := time.Now()
		if tokens, err = m.MintAll(n); err != nil {
			return nil, err
		}
		fmt.Printf("loadgen: minted %d %s access tokens in %.2fs\n", n, m.Alg(), time.Since(began).Seconds())
	}
	res.AccessAlg, res.Tokens = m.Alg(), len(tokens)
	switch mode {
	case "cycle":
		return &cycling{tokens: tokens}, nil
	case "rotate":
		return &rotating{cycling{tokens: tokens}}, nil
	}
	return &fresh{tokens: tokens, minter: m}, nil
}

// fillResult puts the merged tally into res.
func fillResult(res *benchkit.LoadResult, t *tally, window time.Duration, src source) {
	res.Seconds = window.Seconds()
	res.Requests = t.requests
	for _, n := range t.errors {
		res.Errors += n
	}
	res.RPS = float64(t.requests-res.Errors) / window.Seconds()
	res.ErrorKinds, res.FirstError = t.errors, t.first
	res.P50 = int64(t.hist.Quantile(0.50))
	res.P99 = int64(t.hist.Quantile(0.99))
	res.Max = int64(t.hist.Max())
	res.CPUPerRequest, res.MachineBusy = cpuPerRequest(t.cpu[0], t.cpu[1], t.requests)
	if f, ok := src.(*fresh); ok {
		res.MintedLive = f.live.Load()
	}
}
