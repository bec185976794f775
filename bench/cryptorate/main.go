// Command cryptorate measures, on all cores at once, the rates of the
// operations an all-miss request cannot avoid: RSA-2048 PKCS#1 v1.5 signing
// (an RS256 backend JWT), ES256 signing (an ES256 backend JWT), and the
// signature check of one access token of the kind the all-miss cases send.
// It also measures the project's validator.Validate on that token with its
// cache off, for information. It writes the rates as JSON, and prints them
// with the CPU time each operation took (which a rate on a busy machine
// does not show: run it beside other load to see what sharing the cores
// costs the crypto).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "cryptorate:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	dir := flag.String("keys", "", "folder of the benchmark's keys (benchutil keys)")
	each := flag.Duration("duration", 2*time.Second, "how long each operation is measured in all")
	rounds := flag.Int("rounds", 8, "slices each operation's time is cut into, taken in turns")
	out := flag.String("out", "", "write the rates as JSON here")
	flag.Parse()
	if *dir == "" {
		return errors.New("-keys is required")
	}
	if *each <= 0 || *each > time.Minute {
		return fmt.Errorf("-duration %v: want up to a minute", *each)
	}
	if *rounds < 1 || *rounds > 1000 {
		return fmt.Errorf("-rounds %d: want 1 to 1000", *rounds)
	}
	ops, err := newOps(*dir)
	if err != nil {
		return err
	}
	rates := benchkit.CryptoRates{Cores: runtime.GOMAXPROCS(0), VerifyAlg: ops.alg}
	measured := []struct {
		name string
		op   func() error
		dst  *float64
	}{
		{"RSA-2048 PKCS#1 v1.5 sign", ops.signRSA, &rates.RSASign},
		{"ES256 sign", ops.signES256, &rates.ES256Sign},
		{ops.alg + " access-token verify", ops.verify, &rates.Verify},
		{"validator.Validate, cache off", ops.validate, &rates.Validate},
	}
	// The operations take turns in short slices, so that a burst of other
	// work on a shared machine slows them all alike.
	counts := make([]int64, len(measured))
	spent := make([]time.Duration, len(measured))
	cpu := make([]time.Duration, len(measured))
	for range *rounds {
		for i, m := range measured {
			before, err := benchkit.SelfCPU()
			if err != nil {
				return err
			}
			n, d, err := measure(*each/time.Duration(*rounds), m.op)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			after, err := benchkit.SelfCPU()
			if err != nil {
				return err
			}
			counts[i] += n
			spent[i] += d
			cpu[i] += after - before
		}
	}
	for i, m := range measured {
		*m.dst = float64(counts[i]) / spent[i].Seconds()
		fmt.Printf("cryptorate: %-32s %9.0f /s on %d cores, %6.1f µs of CPU each\n", m.name, *m.dst, rates.Cores,
			float64(cpu[i].Nanoseconds())/1e3/float64(counts[i]))
	}
	if *out != "" {
		return benchkit.WriteJSON(*out, rates)
	}
	return nil
}

// measure runs op on every core for d and returns how many times it ran
// and how long that took. The first error stops it.
func measure(d time.Duration, op func() error) (int64, time.Duration, error) {
	workers := runtime.GOMAXPROCS(0)
	counts := make([]int64, workers)
	errs := make([]error, workers)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	began := time.Now()
	done := make(chan int, workers)
	for w := range workers {
		go func() {
			defer func() { done <- w }()
			for ctx.Err() == nil {
				if errs[w] = op(); errs[w] != nil {
					return
				}
				counts[w]++
			}
		}()
	}
	var total int64
	var err error
	for range workers {
		w := <-done
		total += counts[w]
		if err == nil {
			err = errs[w]
		}
	}
	return total, time.Since(began), err
}

// keyPath is the path of a key file in the keys folder.
func keyPath(dir, name string) string { return filepath.Join(dir, name) }
