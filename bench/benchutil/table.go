package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

// printReport writes the table, Caddy's memory, the crypto rates, the
// predictions and the targets.
func printReport(w io.Writer, r *results) {
	base := r.cases[0]
	fmt.Fprintf(w, "%-40s %9s %7s %10s %10s %8s\n", "case", "req/s", "ratio", "p50", "p99", "errors")
	for i, c := range r.cases {
		if c == nil {
			fmt.Fprintf(w, "%-40s %9s\n", caseNames[i], "(no result)")
			continue
		}
		ratio := "-"
		if base != nil && base.RPS > 0 {
			ratio = fmt.Sprintf("%.2f", c.RPS/base.RPS)
		}
		fmt.Fprintf(w, "%-40s %9.0f %7s %10s %10s %8d\n", caseNames[i], c.RPS, ratio, ms(c.P50), ms(c.P99), c.Errors)
	}
	fmt.Fprintln(w)
	for i, c := range r.cases {
		if c != nil && c.Errors > 0 {
			fmt.Fprintf(w, "case %d errors: %s (first: %s)\n", i+1, kinds(c.ErrorKinds), c.FirstError)
		}
		if c != nil && c.MintedLive > 0 {
			fmt.Fprintf(w, "case %d: %d tokens were minted during the window, on the shared cores\n", i+1, c.MintedLive)
		}
	}
	if c := r.cases[2]; c != nil && c.AccessAlg != "" {
		fmt.Fprintf(w, "access tokens: %s, minted before each run (case 3: %d in %.1fs)\n", c.AccessAlg, c.Tokens, c.MintSeconds)
	}
	if r.rssKiB > 0 {
		fmt.Fprintf(w, "Caddy RSS after case 3: %.1f MiB\n", float64(r.rssKiB)/1024)
	} else {
		fmt.Fprintln(w, "Caddy RSS after case 3: unknown")
	}
	cr := r.crypto
	if cr == nil {
		fmt.Fprintln(w, "crypto rates: (no result)")
		return
	}
	for i, run := range r.runs {
		fmt.Fprintf(w, "crypto %-6s on %d cores: RSA-2048 sign %6.0f/s, ES256 sign %6.0f/s, %s verify %6.0f/s (validator.Validate, cache off: %6.0f/s)\n",
			r.labels[i], run.Cores, run.RSASign, run.ES256Sign, run.VerifyAlg, run.Verify, run.Validate)
	}
	if len(r.runs) > 1 {
		fmt.Fprintf(w, "crypto mean, used below: RSA-2048 sign %.0f/s, ES256 sign %.0f/s, %s verify %.0f/s\n", cr.RSASign, cr.ES256Sign, cr.VerifyAlg, cr.Verify)
	}
	if base == nil {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "targets (issue 7):")
	if c := r.cases[1]; c != nil {
		share, extra := c.RPS/base.RPS, c.P99-base.P99
		fmt.Fprintf(w, "  case 2: %.0f%% of case 1 (target >= 90%%: %s); p99 %+.2f ms over case 1 (target <= 1 ms: %s)\n",
			100*share, verdict(share >= 0.9), float64(extra)/1e6, verdict(extra <= 1e6))
	}
	for _, p := range []struct {
		i         int
		alg       string
		sign      float64
		minShare  float64 // of the prediction
		minOfBase float64 // of case 1
	}{{2, "RSA-2048", cr.RSASign, 0.9, 0}, {3, "ES256", cr.ES256Sign, 0, 0.6}} {
		pred := benchkit.Predict(base.RPS, p.sign, cr.Verify)
		c := r.cases[p.i]
		fmt.Fprintf(w, "  case %d predicted 1/(1/%.0f + 1/%.0f %s sign + 1/%.0f verify) = %.0f req/s",
			p.i+1, base.RPS, p.sign, p.alg, cr.Verify, pred)
		if c == nil || pred <= 0 {
			fmt.Fprintln(w)
			continue
		}
		share := c.RPS / pred
		fmt.Fprintf(w, "; measured %.0f = %.0f%% of it", c.RPS, 100*share)
		if p.minShare > 0 {
			fmt.Fprintf(w, " (target >= %.0f%%: %s)", 100*p.minShare, verdict(share >= p.minShare))
		}
		if p.minOfBase > 0 {
			of := c.RPS / base.RPS
			fmt.Fprintf(w, "; %.0f%% of case 1 (target >= %.0f%%: %s)", 100*of, 100*p.minOfBase, verdict(of >= p.minOfBase))
		}
		fmt.Fprintln(w)
	}
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
