package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

const ms1 = 1_000_000 // a millisecond in ns

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7, 7}, 7},
		{[]float64{0.83, 0.99, 0.88}, 0.88},
		{[]float64{10, -2, 4, 4, 100}, 4},
	} {
		in := slices.Clone(tt.xs)
		if got := median(tt.xs); !near(got, tt.want) {
			t.Errorf("median(%v) = %v, want %v", in, got, tt.want)
		}
		if !slices.Equal(in, tt.xs) {
			t.Errorf("median reordered its input: %v, was %v", tt.xs, in)
		}
	}
}

func TestStatOf(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want stat
	}{
		{nil, stat{}},
		{[]float64{0.9}, stat{n: 1, med: 0.9, lo: 0.9, hi: 0.9}},
		{[]float64{0.95, 0.85, 0.92}, stat{n: 3, med: 0.92, lo: 0.85, hi: 0.95}},
		{[]float64{0.75, 0.9}, stat{n: 2, med: 0.825, lo: 0.75, hi: 0.9}},
	} {
		got := statOf(tt.xs)
		if got.n != tt.want.n || !near(got.med, tt.want.med) || !near(got.lo, tt.want.lo) || !near(got.hi, tt.want.hi) {
			t.Errorf("statOf(%v) = %+v, want %+v", tt.xs, got, tt.want)
		}
	}
}

func lr(rps float64, p99ms float64) *benchkit.LoadResult {
	return &benchkit.LoadResult{RPS: rps, P99: int64(p99ms * ms1)}
}

func rates(rsa, es, verify float64) *benchkit.CryptoRates {
	return &benchkit.CryptoRates{Cores: 2, RSASign: rsa, ES256Sign: es, VerifyAlg: "EdDSA", Verify: verify}
}

// Each figure of a round uses that round's own case 1 and crypto rates, and
// is missing when the round lacks one of them.
func TestRoundFigures(t *testing.T) {
	full := &round{
		cases:  [4]*benchkit.LoadResult{lr(4000, 10), lr(3800, 10.5), lr(950, 20), lr(1200, 15)},
		crypto: rates(2000, 8000, 4000),
	}
	noBase := &round{cases: [4]*benchkit.LoadResult{nil, lr(3800, 10.5), lr(950, 20), lr(1200, 15)}, crypto: full.crypto}
	noCrypto := &round{cases: full.cases}
	noCase3 := &round{cases: [4]*benchkit.LoadResult{lr(4000, 10), lr(3800, 10.5), nil, lr(1200, 15)}, crypto: full.crypto}
	type fig struct {
		v  float64
		ok bool
	}
	for _, tt := range []struct {
		name string
		rd   *round
		f    func(*round) (float64, bool)
		want fig
	}{
		{"ratio 2", full, func(rd *round) (float64, bool) { return rd.ratio(1) }, fig{0.95, true}},
		{"ratio 3", full, func(rd *round) (float64, bool) { return rd.ratio(2) }, fig{0.2375, true}},
		{"ratio 1", full, func(rd *round) (float64, bool) { return rd.ratio(0) }, fig{1, true}},
		{"ratio without case 1", noBase, func(rd *round) (float64, bool) { return rd.ratio(1) }, fig{}},
		{"ratio without case 3", noCase3, func(rd *round) (float64, bool) { return rd.ratio(2) }, fig{}},
		{"p99 over", full, func(rd *round) (float64, bool) { return rd.p99Over(1) }, fig{0.5 * ms1, true}},
		{"p99 over without case 1", noBase, func(rd *round) (float64, bool) { return rd.p99Over(1) }, fig{}},
		// 1/(1/4000 + 1/2000 + 1/4000) = 1/0.001
		{"predicted 3", full, func(rd *round) (float64, bool) { return rd.predicted(2) }, fig{1000, true}},
		// 1/(1/4000 + 1/8000 + 1/4000) = 1/0.000625
		{"predicted 4", full, func(rd *round) (float64, bool) { return rd.predicted(3) }, fig{1600, true}},
		{"predicted without crypto", noCrypto, func(rd *round) (float64, bool) { return rd.predicted(2) }, fig{}},
		{"predicted without case 1", noBase, func(rd *round) (float64, bool) { return rd.predicted(2) }, fig{}},
		{"predicted without case 3", noCase3, func(rd *round) (float64, bool) { return rd.predicted(2) }, fig{1000, true}},
		{"of prediction 3", full, func(rd *round) (float64, bool) { return rd.ofPrediction(2) }, fig{0.95, true}},
		{"of prediction 4", full, func(rd *round) (float64, bool) { return rd.ofPrediction(3) }, fig{0.75, true}},
		{"of prediction without case 3", noCase3, func(rd *round) (float64, bool) { return rd.ofPrediction(2) }, fig{}},
		{"of prediction without crypto", noCrypto, func(rd *round) (float64, bool) { return rd.ofPrediction(3) }, fig{}},
	} {
		v, ok := tt.f(tt.rd)
		if ok != tt.want.ok || ok && !near(v, tt.want.v) {
			t.Errorf("%s = %v, %v; want %v, %v", tt.name, v, ok, tt.want.v, tt.want.ok)
		}
	}
}

// threeRounds is a run whose machine got faster in round 2 and slower in
// round 3, and whose case 4 failed in round 2.
//
//	round  case 1  case 2  case 3  case 4  RSA  ES256  verify  pred 3  pred 4
//	1        4000    3800     950    1200  2000  8000   4000    1000    1600
//	2        6000    5100    1200       -  3000 12000   6000    1500    2400
//	3        5000    4600    1250    1700  2500 10000   5000    1250    2000
func threeRounds() []*round {
	r1 := &round{cases: [4]*benchkit.LoadResult{lr(4000, 10), lr(3800, 10.5), lr(950, 30), lr(1200, 25)}, crypto: rates(2000, 8000, 4000), rssKiB: 40000}
	r2 := &round{cases: [4]*benchkit.LoadResult{lr(6000, 8), lr(5100, 9.2), lr(1200, 20), nil}, crypto: rates(3000, 12000, 6000)}
	r3 := &round{cases: [4]*benchkit.LoadResult{lr(5000, 12), lr(4600, 12.1), lr(1250, 22), lr(1700, 19)}, crypto: rates(2500, 10000, 5000), rssKiB: 51200}
	r1.cases[0].P50, r2.cases[0].P50, r3.cases[0].P50 = 3*ms1, 2*ms1, 4*ms1
	r2.cases[2].Errors, r3.cases[2].Errors = 4, 1
	return []*round{r1, r2, r3}
}

func TestSummarize(t *testing.T) {
	s := summarize(threeRounds())
	for _, tt := range []struct {
		name string
		got  stat
		want stat
	}{
		{"case 1 req/s", s.cases[0].rps, stat{3, 5000, 4000, 6000}},
		{"case 1 p50", s.cases[0].p50, stat{3, 3 * ms1, 2 * ms1, 4 * ms1}},
		{"case 1 p99", s.cases[0].p99, stat{3, 10 * ms1, 8 * ms1, 12 * ms1}},
		{"case 1 ratio", s.cases[0].ratio, stat{3, 1, 1, 1}},
		{"case 2 req/s", s.cases[1].rps, stat{3, 4600, 3800, 5100}},
		{"case 2 p99", s.cases[1].p99, stat{3, 10.5 * ms1, 9.2 * ms1, 12.1 * ms1}},
		// 3800/4000, 5100/6000, 4600/5000: 0.95, 0.85, 0.92
		{"case 2 ratio", s.cases[1].ratio, stat{3, 0.92, 0.85, 0.95}},
		// +0.5, +1.2, +0.1 ms
		{"case 2 p99 over", s.p99Over, stat{3, 0.5 * ms1, 0.1 * ms1, 1.2 * ms1}},
		// 950/4000, 1200/6000, 1250/5000: 0.2375, 0.2, 0.25
		{"case 3 ratio", s.cases[2].ratio, stat{3, 0.2375, 0.2, 0.25}},
		{"case 3 predicted", s.predicted[2], stat{3, 1250, 1000, 1500}},
		// 950/1000, 1200/1500, 1250/1250
		{"case 3 of prediction", s.ofPrediction[2], stat{3, 0.95, 0.8, 1}},
		// two rounds: 1200, 1700
		{"case 4 req/s", s.cases[3].rps, stat{2, 1450, 1200, 1700}},
		// 1200/4000, 1700/5000: 0.3, 0.34
		{"case 4 ratio", s.cases[3].ratio, stat{2, 0.32, 0.3, 0.34}},
		// the prediction needs no case 4: 1600, 2400, 2000
		{"case 4 predicted", s.predicted[3], stat{3, 2000, 1600, 2400}},
		// 1200/1600, 1700/2000: 0.75, 0.85
		{"case 4 of prediction", s.ofPrediction[3], stat{2, 0.8, 0.75, 0.85}},
	} {
		g, w := tt.got, tt.want
		if g.n != w.n || !near(g.med, w.med) || !near(g.lo, w.lo) || !near(g.hi, w.hi) {
			t.Errorf("%s = %+v, want %+v", tt.name, g, w)
		}
	}
	if s.rounds != 3 || s.cases[2].errors != 5 || s.rssKiB != 51200 {
		t.Errorf("rounds %d, case 3 errors %d, RSS %d KiB; want 3, 5, 51200", s.rounds, s.cases[2].errors, s.rssKiB)
	}
}

// The targets are judged on the medians: one bad round does not decide.
func TestReportTargets(t *testing.T) {
	slowRound := threeRounds()
	slowRound[1].cases[1].RPS = 4800 // case 2 at 80% of case 1 in round 2
	slowRound[1].cases[1].P99 = 11 * ms1
	for _, tt := range []struct {
		name   string
		rounds []*round
		want   []string
	}{
		{"three rounds", threeRounds(), []string{
			"case 2: 92% (rounds 85-95%) of case 1 (target >= 90%: met); p99 +0.50 ms over case 1 (rounds +0.10 to +1.20; target <= 1 ms: met)",
			"case 3 predicted 1/(1/case 1 + 1/RSA-2048 sign + 1/EdDSA verify), by round: 1000, 1500, 1250 req/s; measured 95% (rounds 80-100%) of it (target >= 90%: met)",
			"case 4 predicted 1/(1/case 1 + 1/ES256 sign + 1/EdDSA verify), by round: 1600, 2400, 2000 req/s; measured 80% (rounds 75-85%) of it; 32% (rounds 30-34%) of case 1 (target >= 60%: NOT met)",
			"Caddy RSS after case 3: 50.0 MiB, the largest of the rounds (39.1, -, 50.0 MiB)",
			"2         6000     5100     1200        -   0.85   0.20      -    0.80       -",
			"(2 of 3 rounds)",
		}},
		{"case 2 slow in one round", slowRound, []string{
			"case 2: 92% (rounds 80-95%) of case 1 (target >= 90%: met); p99 +0.50 ms over case 1 (rounds +0.10 to +3.00; target <= 1 ms: met)",
		}},
		{"one round", threeRounds()[1:2], []string{
			"case 2: 85% (rounds 85-85%) of case 1 (target >= 90%: NOT met); p99 +1.20 ms over case 1 (rounds +1.20 to +1.20; target <= 1 ms: NOT met)",
			"measured 80% (rounds 80-80%) of it (target >= 90%: NOT met)",
		}},
	} {
		var buf bytes.Buffer
		printReport(&buf, &results{rounds: tt.rounds})
		for _, w := range tt.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s: the report lacks %q:\n%s", tt.name, w, buf.String())
			}
		}
	}
}

// loadResults finds the rounds by their files' names and views the last
// one as the round in progress.
func TestLoadResults(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]any{
		"crypto.r1.json": rates(2000, 8000, 4000),
		"case1.r1.json":  lr(4000, 10),
		"case3.r1.json":  lr(950, 30),
		"crypto.r3.json": rates(2500, 10000, 5000),
		"case1.r3.json":  lr(5000, 12),
		"case2.r3.json":  lr(4600, 12.1),
	} {
		if err := benchkit.WriteJSON(filepath.Join(dir, name), v); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"rss_kib.r1": "40000\n", "rss_kib.r3": "51200\n", "case3.cpu.pprof": "x", "case1.json": "{}"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := loadResults(dir)
	if len(r.rounds) != 3 {
		t.Fatalf("%d rounds, want 3", len(r.rounds))
	}
	r1, r2, r3 := r.rounds[0], r.rounds[1], r.rounds[2]
	if r1.cases[0].RPS != 4000 || r1.cases[1] != nil || r1.cases[2].RPS != 950 || r1.crypto.RSASign != 2000 || r1.rssKiB != 40000 {
		t.Errorf("round 1 = %+v", r1)
	}
	if *r2 != (round{}) {
		t.Errorf("round 2 = %+v, want empty", r2)
	}
	if r.cases != r3.cases || r.crypto != r3.crypto || r.cases[1].RPS != 4600 {
		t.Errorf("the current round is not round 3: cases %v, crypto %v", r.cases, r.crypto)
	}
	if s := summarize(r.rounds); s.rssKiB != 51200 || s.cases[0].rps.med != 4500 {
		t.Errorf("RSS %d KiB, case 1 median %v; want 51200, 4500", s.rssKiB, s.cases[0].rps.med)
	}
	if empty := loadResults(t.TempDir()); len(empty.rounds) != 0 || empty.cases[0] != nil || empty.crypto != nil {
		t.Errorf("an empty folder gives %+v", empty)
	}
}

// The CPU table gives each case's medians over the rounds that measured
// CPU time, and is left out when case 1 has none.
func TestReportCPU(t *testing.T) {
	rounds := threeRounds()
	cpu := func(caddy, upstream, loadgen, other, busy float64) (map[string]float64, float64) {
		return map[string]float64{"caddy": caddy, "upstream": upstream, "loadgen": loadgen, "other": other}, busy
	}
	rounds[0].cases[0].CPUPerRequest, rounds[0].cases[0].MachineBusy = cpu(150, 50, 40, 0, 0.9)
	rounds[1].cases[0].CPUPerRequest, rounds[1].cases[0].MachineBusy = cpu(170, 60, 30, 2, 0.8)
	rounds[2].cases[0].CPUPerRequest, rounds[2].cases[0].MachineBusy = cpu(140, 40, 35, 1, 1)
	rounds[0].cases[3].CPUPerRequest, rounds[0].cases[3].MachineBusy = cpu(300, 70, 50, 0, 0.95)
	var buf bytes.Buffer
	printReport(&buf, &results{rounds: rounds})
	for _, w := range []string{
		"caddy  upstream   loadgen     other       all   busy",
		// medians: 150, 50, 35, 1; all 240, 240, 216; busy 0.9
		"1 reverse_proxy alone                          150        50        35         1       240    90%",
		// one round only
		"4 fresh token each, ES256 backend JWT          300        70        50         0       420    95%",
	} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("the report lacks %q:\n%s", w, buf.String())
		}
	}
	_, table, _ := strings.Cut(buf.String(), "CPU time per answer")
	table, _, _ = strings.Cut(table, "crypto round")
	if strings.Contains(table, caseNames[1]) {
		t.Errorf("case 2, without CPU times, has a row in the CPU table:\n%s", table)
	}

	buf.Reset()
	printReport(&buf, &results{rounds: threeRounds()})
	if strings.Contains(buf.String(), "CPU time per answer") {
		t.Errorf("a report without CPU times prints the CPU table:\n%s", buf.String())
	}
}
