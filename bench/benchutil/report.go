package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

// caseNames are the rows of the table, in order; case i's result of round r
// is in case<i>.r<r>.json.
var caseNames = []string{
	"1 reverse_proxy alone",
	"2 backend_jwt, 1000 tokens cycling",
	"3 fresh token each, RS256 backend JWT",
	"4 fresh token each, ES256 backend JWT",
}

// round is what one round of run.sh left: the crypto rates measured before
// it (crypto.r<r>.json), the four cases (case<i>.r<r>.json) and Caddy's
// VmRSS after case 3 (rss_kib.r<r>).
type round struct {
	cases  [4]*benchkit.LoadResult // nil: the case did not complete
	crypto *benchkit.CryptoRates   // nil: not measured
	rssKiB int64                   // 0: unknown
}

// results is what a run left in its results folder.
type results struct {
	rounds []*round // round 1 first; a round that left nothing is empty
	// cases and crypto are those of the last round that left a file: while
	// run.sh runs, the round in progress, whose cases 1 and 2 size the fresh
	// tokens of its cases 3 and 4 (tokensCmd).
	cases  [4]*benchkit.LoadResult
	crypto *benchkit.CryptoRates
}

// roundFile matches the names of the files a round leaves.
var roundFile = regexp.MustCompile(`^(case[1-4]|crypto|rss_kib)\.r([1-9][0-9]{0,3})(\.json)?$`)

func loadResults(dir string) *results {
	r := &results{}
	entries, _ := os.ReadDir(dir)
	last := 0
	for _, e := range entries {
		if m := roundFile.FindStringSubmatch(e.Name()); m != nil {
			n, _ := strconv.Atoi(m[2])
			last = max(last, n)
		}
	}
	for n := 1; n <= last; n++ {
		rd := &round{}
		for i := range rd.cases {
			var lr benchkit.LoadResult
			if benchkit.ReadJSON(filepath.Join(dir, fmt.Sprintf("case%d.r%d.json", i+1, n)), &lr) == nil {
				rd.cases[i] = &lr
			}
		}
		var cr benchkit.CryptoRates
		if benchkit.ReadJSON(filepath.Join(dir, fmt.Sprintf("crypto.r%d.json", n)), &cr) == nil {
			rd.crypto = &cr
		}
		if data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rss_kib.r%d", n))); err == nil {
			rd.rssKiB, _ = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		}
		r.rounds = append(r.rounds, rd)
	}
	if last > 0 {
		r.cases, r.crypto = r.rounds[last-1].cases, r.rounds[last-1].crypto
	}
	return r
}

// The per-round figures. Each is computed within one round, from that
// round's own case 1 and crypto rates, so that a change of the machine's
// load between rounds moves both sides of a ratio alike; ok is false when
// the round lacks what the figure needs.

// ratio is case i's req/s over case 1's (i counts from 0).
func (rd *round) ratio(i int) (float64, bool) {
	c, base := rd.cases[i], rd.cases[0]
	if c == nil || base == nil || base.RPS <= 0 {
		return 0, false
	}
	return c.RPS / base.RPS, true
}

// p99Over is case i's p99 minus case 1's, in nanoseconds.
func (rd *round) p99Over(i int) (float64, bool) {
	c, base := rd.cases[i], rd.cases[0]
	if c == nil || base == nil {
		return 0, false
	}
	return float64(c.P99 - base.P99), true
}

// predicted is the all-miss rate for case 3 (i = 2, RSA-2048
// signing) or case 4 (i = 3, ES256 signing): see benchkit.Predict.
func (rd *round) predicted(i int) (float64, bool) {
	if rd.cases[0] == nil || rd.crypto == nil {
		return 0, false
	}
	sign := rd.crypto.RSASign
	if i == 3 {
		sign = rd.crypto.ES256Sign
	}
	p := benchkit.Predict(rd.cases[0].RPS, sign, rd.crypto.Verify)
	return p, p > 0
}

// ofPrediction is case i's req/s over its prediction.
func (rd *round) ofPrediction(i int) (float64, bool) {
	p, ok := rd.predicted(i)
	if !ok || rd.cases[i] == nil {
		return 0, false
	}
	return rd.cases[i].RPS / p, true
}

// stat sums up one figure over the rounds that have it.
type stat struct {
	n           int     // how many rounds had it; 0: none, and the rest is 0
	med, lo, hi float64 // median, smallest, largest
}

// median is the middle value of xs, or the mean of the two middle ones for
// an even count; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	h := len(s) / 2
	if len(s)%2 == 1 {
		return s[h]
	}
	return (s[h-1] + s[h]) / 2
}

// statOf sums up xs.
func statOf(xs []float64) stat {
	if len(xs) == 0 {
		return stat{}
	}
	return stat{n: len(xs), med: median(xs), lo: slices.Min(xs), hi: slices.Max(xs)}
}

// over sums up f over the rounds where it is defined.
func over(rounds []*round, f func(*round) (float64, bool)) stat {
	var xs []float64
	for _, rd := range rounds {
		if x, ok := f(rd); ok {
			xs = append(xs, x)
		}
	}
	return statOf(xs)
}

// caseSummary is one case over the rounds.
type caseSummary struct {
	rps, p50, p99 stat  // medians of the case's own figures
	ratio         stat  // of the rounds' own ratios to case 1
	errors        int64 // in all rounds
	// cpu is the CPU time per answer by process (cpuColumns), cpuAll their
	// sum, and busy the share of the cores that was busy.
	cpu          map[string]stat
	cpuAll, busy stat
}

// summary is what the report prints and judges.
type summary struct {
	rounds int
	cases  [4]caseSummary
	// p99Over is case 2's p99 minus case 1's of the same round, in ns.
	p99Over stat
	// predicted and ofPrediction are set for cases 3 and 4 (indices 2, 3):
	// each round's prediction, and each round's measured/predicted.
	predicted, ofPrediction [4]stat
	rssKiB                  int64 // the largest after case 3; 0: unknown
}

func summarize(rounds []*round) *summary {
	s := &summary{rounds: len(rounds)}
	for i := range s.cases {
		cs := &s.cases[i]
		// of is a figure of case i's own result.
		of := func(f func(*benchkit.LoadResult) float64) stat {
			return over(rounds, func(rd *round) (float64, bool) {
				if rd.cases[i] == nil {
					return 0, false
				}
				return f(rd.cases[i]), true
			})
		}
		cs.rps = of(func(c *benchkit.LoadResult) float64 { return c.RPS })
		cs.p50 = of(func(c *benchkit.LoadResult) float64 { return float64(c.P50) })
		cs.p99 = of(func(c *benchkit.LoadResult) float64 { return float64(c.P99) })
		cs.ratio = over(rounds, func(rd *round) (float64, bool) { return rd.ratio(i) })
		// cpuOf is a figure of the case's CPU accounting, where it has one.
		cpuOf := func(f func(*benchkit.LoadResult) float64) stat {
			return over(rounds, func(rd *round) (float64, bool) {
				if c := rd.cases[i]; c != nil && c.CPUPerRequest != nil {
					return f(c), true
				}
				return 0, false
			})
		}
		cs.cpu = make(map[string]stat, len(cpuColumns))
		for _, name := range cpuColumns {
			cs.cpu[name] = cpuOf(func(c *benchkit.LoadResult) float64 { return c.CPUPerRequest[name] })
		}
		cs.cpuAll = cpuOf(func(c *benchkit.LoadResult) float64 {
			var sum float64
			for _, v := range c.CPUPerRequest {
				sum += v
			}
			return sum
		})
		cs.busy = cpuOf(func(c *benchkit.LoadResult) float64 { return c.MachineBusy })
		for _, rd := range rounds {
			if rd.cases[i] != nil {
				cs.errors += rd.cases[i].Errors
			}
		}
	}
	s.p99Over = over(rounds, func(rd *round) (float64, bool) { return rd.p99Over(1) })
	for _, i := range []int{2, 3} {
		s.predicted[i] = over(rounds, func(rd *round) (float64, bool) { return rd.predicted(i) })
		s.ofPrediction[i] = over(rounds, func(rd *round) (float64, bool) { return rd.ofPrediction(i) })
	}
	for _, rd := range rounds {
		s.rssKiB = max(s.rssKiB, rd.rssKiB)
	}
	return s
}

// The targets, judged on the medians over the rounds.
const (
	case2MinRatio     = 0.90 // case 2 of case 1
	case2MaxP99Over   = 1e6  // ns over case 1's p99
	case3MinPredicted = 0.90 // case 3 of its prediction
	case4MinRatio     = 0.60 // case 4 of case 1
)

// reportCmd prints the table and the comparisons with the targets.
func reportCmd(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("results", "", "results folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-results is required")
	}
	r := loadResults(*dir)
	if len(r.rounds) == 0 {
		return fmt.Errorf("no results in %s", *dir)
	}
	printReport(os.Stdout, r)
	return nil
}

// ms formats nanoseconds as milliseconds.
func ms(ns int64) string { return fmt.Sprintf("%.2f ms", float64(ns)/float64(time.Millisecond)) }

// round0 rounds to the nearest whole number, for the medians of durations.
func round0(x float64) int64 { return int64(math.Round(x)) }

// verdict says whether a target is met.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
