package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// printReport writes the table of medians, the table of rounds, Caddy's
// memory, the crypto rates, the predictions and the targets.
func printReport(w io.Writer, r *results) {
	s := summarize(r.rounds)
	fmt.Fprintf(w, "medians over %d round(s); ratio: the median of the rounds' own ratios to their case 1, with their range\n", s.rounds)
	fmt.Fprintf(w, "%-40s %9s %7s %11s %10s %10s %8s\n", "case", "req/s", "ratio", "min-max", "p50", "p99", "errors")
	for i, cs := range s.cases {
		if cs.rps.n == 0 {
			fmt.Fprintf(w, "%-40s %9s\n", caseNames[i], "(no result)")
			continue
		}
		ratio, span := "-", "-"
		if cs.ratio.n > 0 {
			ratio = fmt.Sprintf("%.2f", cs.ratio.med)
			if i > 0 {
				span = fmt.Sprintf("%.2f-%.2f", cs.ratio.lo, cs.ratio.hi)
			}
		}
		fmt.Fprintf(w, "%-40s %9.0f %7s %11s %10s %10s %8d", caseNames[i], cs.rps.med, ratio, span,
			ms(round0(cs.p50.med)), ms(round0(cs.p99.med)), cs.errors)
		if cs.rps.n < s.rounds {
			fmt.Fprintf(w, "  (%d of %d rounds)", cs.rps.n, s.rounds)
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-5s %8s %8s %8s %8s %6s %6s %6s %7s %7s\n",
		"round", "case 1", "case 2", "case 3", "case 4", "2/1", "3/1", "4/1", "3/pred", "4/pred")
	for n, rd := range r.rounds {
		fmt.Fprintf(w, "%-5d", n+1)
		for i := range rd.cases {
			fmt.Fprintf(w, " %8s", orDash(func() (float64, bool) {
				if rd.cases[i] == nil {
					return 0, false
				}
				return rd.cases[i].RPS, true
			}, "%.0f"))
		}
		for i := 1; i < 4; i++ {
			fmt.Fprintf(w, " %6s", orDash(func() (float64, bool) { return rd.ratio(i) }, "%.2f"))
		}
		for i := 2; i < 4; i++ {
			fmt.Fprintf(w, " %7s", orDash(func() (float64, bool) { return rd.ofPrediction(i) }, "%.2f"))
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w)
	for n, rd := range r.rounds {
		for i, c := range rd.cases {
			if c != nil && c.Errors > 0 {
				fmt.Fprintf(w, "round %d case %d errors: %s (first: %s)\n", n+1, i+1, kinds(c.ErrorKinds), c.FirstError)
			}
			if c != nil && c.MintedLive > 0 {
				fmt.Fprintf(w, "round %d case %d: %d tokens were minted during the window, on the shared cores\n", n+1, i+1, c.MintedLive)
			}
		}
	}
	var sent []string
	alg := ""
	for _, rd := range r.rounds {
		if c := rd.cases[2]; c != nil && c.AccessAlg != "" {
			alg = c.AccessAlg
			sent = append(sent, strconv.Itoa(c.Tokens))
		}
	}
	if alg != "" {
		fmt.Fprintf(w, "access tokens: %s, minted before the load (case 3 had, by round: %s)\n", alg, strings.Join(sent, ", "))
	}
	if s.rssKiB > 0 {
		var each []string
		for _, rd := range r.rounds {
			each = append(each, orDash(func() (float64, bool) { return float64(rd.rssKiB) / 1024, rd.rssKiB > 0 }, "%.1f"))
		}
		fmt.Fprintf(w, "Caddy RSS after case 3: %.1f MiB, the largest of the rounds (%s MiB)\n", float64(s.rssKiB)/1024, strings.Join(each, ", "))
	} else {
		fmt.Fprintln(w, "Caddy RSS after case 3: unknown")
	}
	printCPU(w, s)
	for n, rd := range r.rounds {
		if cr := rd.crypto; cr != nil {
			fmt.Fprintf(w, "crypto round %d on %d cores: RSA-2048 sign %6.0f/s, ES256 sign %6.0f/s, %s verify %6.0f/s (validator.Validate, cache off: %6.0f/s)\n",
				n+1, cr.Cores, cr.RSASign, cr.ES256Sign, cr.VerifyAlg, cr.Verify, cr.Validate)
		} else {
			fmt.Fprintf(w, "crypto round %d: (no result)\n", n+1)
		}
	}
	if s.cases[0].rps.n == 0 {
		return
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "targets (issue 7), judged on the medians of the rounds' own figures:")
	if s.cases[1].ratio.n > 0 {
		share, extra := s.cases[1].ratio, s.p99Over
		fmt.Fprintf(w, "  case 2: %s of case 1 (target >= %.0f%%: %s); p99 %+.2f ms over case 1 (rounds %+.2f to %+.2f; target <= %.0f ms: %s)\n",
			pct(share), 100*case2MinRatio, verdict(share.med >= case2MinRatio),
			extra.med/1e6, extra.lo/1e6, extra.hi/1e6, case2MaxP99Over/1e6, verdict(extra.med <= case2MaxP99Over))
	}
	verifyAlg := "verify"
	if cr := r.rounds[len(r.rounds)-1].crypto; cr != nil {
		verifyAlg = cr.VerifyAlg + " verify"
	}
	for _, p := range []struct {
		i        int
		alg      string
		minShare float64 // of the prediction
		minRatio float64 // of case 1
	}{{2, "RSA-2048", case3MinPredicted, 0}, {3, "ES256", 0, case4MinRatio}} {
		var preds []string
		for _, rd := range r.rounds {
			preds = append(preds, orDash(func() (float64, bool) { return rd.predicted(p.i) }, "%.0f"))
		}
		fmt.Fprintf(w, "  case %d predicted 1/(1/case 1 + 1/%s sign + 1/%s), by round: %s req/s",
			p.i+1, p.alg, verifyAlg, strings.Join(preds, ", "))
		share := s.ofPrediction[p.i]
		if share.n == 0 {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "; measured %s of it", pct(share))
		if p.minShare > 0 {
			fmt.Fprintf(w, " (target >= %.0f%%: %s)", 100*p.minShare, verdict(share.med >= p.minShare))
		}
		if of := s.cases[p.i].ratio; p.minRatio > 0 && of.n > 0 {
			fmt.Fprintf(w, "; %s of case 1 (target >= %.0f%%: %s)", pct(of), 100*p.minRatio, verdict(of.med >= p.minRatio))
		}
		fmt.Fprintln(w)
	}
}

// cpuColumns are the processes of the CPU table, in order.
var cpuColumns = []string{"caddy", "upstream", "loadgen", "other"}

// printCPU writes where the machine's CPU time went, per answer: the
// medians over the rounds of each case.
func printCPU(w io.Writer, s *summary) {
	if s.cases[0].busy.n == 0 {
		return
	}
	fmt.Fprintln(w, "CPU time per answer in µs (medians over the rounds), and how busy all cores were:")
	fmt.Fprintf(w, "%-40s", "case")
	for _, c := range cpuColumns {
		fmt.Fprintf(w, " %9s", c)
	}
	fmt.Fprintf(w, " %9s %6s\n", "all", "busy")
	for i, cs := range s.cases {
		if cs.busy.n == 0 {
			continue
		}
		fmt.Fprintf(w, "%-40s", caseNames[i])
		for _, c := range cpuColumns {
			fmt.Fprintf(w, " %9.0f", cs.cpu[c].med)
		}
		fmt.Fprintf(w, " %9.0f %5.0f%%\n", cs.cpuAll.med, 100*cs.busy.med)
	}
}

// pct formats a stat of shares: its median and range, in percent.
func pct(s stat) string {
	return fmt.Sprintf("%.0f%% (rounds %.0f-%.0f%%)", 100*s.med, 100*s.lo, 100*s.hi)
}

// orDash formats f's value, or "-" when it has none.
func orDash(f func() (float64, bool), format string) string {
	if x, ok := f(); ok {
		return fmt.Sprintf(format, x)
	}
	return "-"
}

// kinds lists error kinds with their counts, most frequent first.
func kinds(m map[string]int64) string {
	type kv struct {
		k string
		n int64
	}
	var list []kv
	for k, n := range m {
		list = append(list, kv{k, n})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n || list[i].n == list[j].n && list[i].k < list[j].k })
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = fmt.Sprintf("%s x%d", e.k, e.n)
	}
	return strings.Join(parts, ", ")
}
