package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

// caseNames are the rows of the table, in order; case i's result is in
// case<i>.json.
var caseNames = []string{
	"1 reverse_proxy alone",
	"2 backend_jwt, 1000 tokens cycling",
	"3 fresh token each, RS256 backend JWT",
	"4 fresh token each, ES256 backend JWT",
}

// cryptoRuns label the cryptorate runs of run.sh (crypto-<label>.json):
// before the cases, between cases 2 and 3, after the cases.
var cryptoRuns = []string{"before", "middle", "after"}

// results is what a run left in its results folder.
type results struct {
	cases  [4]*benchkit.LoadResult // nil: the case did not complete
	crypto *benchkit.CryptoRates   // the mean of the runs
	runs   []benchkit.CryptoRates  // in the order of cryptoRuns; missing ones left out
	labels []string                // the runs' labels
	rssKiB int64                   // Caddy's VmRSS after case 3; 0: unknown
}

func loadResults(dir string) *results {
	r := &results{}
	for i := range r.cases {
		var lr benchkit.LoadResult
		if benchkit.ReadJSON(filepath.Join(dir, fmt.Sprintf("case%d.json", i+1)), &lr) == nil {
			r.cases[i] = &lr
		}
	}
	for _, label := range cryptoRuns {
		var cr benchkit.CryptoRates
		if benchkit.ReadJSON(filepath.Join(dir, "crypto-"+label+".json"), &cr) == nil {
			r.runs, r.labels = append(r.runs, cr), append(r.labels, label)
		}
	}
	r.crypto = benchkit.MeanRates(r.runs)
	if data, err := os.ReadFile(filepath.Join(dir, "rss_kib")); err == nil {
		r.rssKiB, _ = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	}
	return r
}

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
	printReport(os.Stdout, loadResults(*dir))
	return nil
}

// ms formats nanoseconds as milliseconds.
func ms(ns int64) string { return fmt.Sprintf("%.2f ms", float64(ns)/float64(time.Millisecond)) }

// verdict says whether a target is met.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
