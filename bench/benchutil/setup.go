package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/loopback"
)

// keysCmd writes the benchmark's keys.
func keysCmd(args []string) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	dir := fs.String("dir", "", "folder to write the keys to")
	alg := fs.String("alg", "RS256", "access-token algorithm: RS256, EdDSA or ES256")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	return benchkit.WriteKeys(*dir, *alg)
}

// mintCmd makes a token file hold at least -count tokens of the issuer
// key, minting the ones it lacks on all cores.
func mintCmd(args []string) error {
	fs := flag.NewFlagSet("mint", flag.ContinueOnError)
	keyFile := fs.String("issuer-key", "", "issuer private key")
	out := fs.String("out", "", "token file")
	count := fs.Int("count", 0, "tokens the file must hold")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *keyFile == "" || *out == "":
		return errors.New("-issuer-key and -out are required")
	case *count < 1 || *count > 5_000_000:
		return fmt.Errorf("-count %d: want 1 to 5000000", *count)
	}
	key, err := benchkit.LoadSigner(*keyFile)
	if err != nil {
		return err
	}
	m, err := benchkit.NewMinter(key)
	if err != nil {
		return err
	}
	began := time.Now()
	minted, err := benchkit.ExtendTokenFile(*out, m, *count)
	if err != nil {
		return err
	}
	if minted > 0 {
		fmt.Printf("minted %d %s access tokens in %.1fs\n", minted, m.Alg(), time.Since(began).Seconds())
	}
	return nil
}

// portsCmd prints n distinct free TCP ports of 127.0.0.1: it holds them all
// open at once, then closes them.
func portsCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("want the number of ports")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 100 {
		return fmt.Errorf("%q: want 1 to 100 ports", args[0])
	}
	ports := make([]string, 0, n)
	for range n {
		ln, err := loopback.Listen()
		if err != nil {
			return fmt.Errorf("finding a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}

// waitCmd polls a URL until it gives any HTTP answer.
func waitCmd(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	url := fs.String("url", "", "URL to poll")
	timeout := fs.Duration("timeout", 20*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" {
		return errors.New("-url is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
		if err != nil {
			return fmt.Errorf("request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer within %v: %w", *url, *timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tokensCmd prints how many fresh tokens to mint for case 3 or 4, so that
// none has to be minted during the window: half as many again as the
// fastest of the case's prediction and the cases 1 and 2 measured so far
// (all-miss requests are no faster than those) would send, plus a margin.
// Without any results it prints an upper bound.
func tokensCmd(args []string) error {
	fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
	dir := fs.String("results", "", "results folder")
	which := fs.Int("case", 3, "3 (RS256) or 4 (ES256)")
	seconds := fs.Float64("seconds", 11, "warm-up plus measured seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	const least, most = 5000, 2_000_000
	r := loadResults(*dir)
	rate := 0.0
	for _, c := range r.cases[:2] {
		if c != nil {
			rate = max(rate, c.RPS)
		}
	}
	if r.cases[0] != nil && r.crypto != nil {
		sign := r.crypto.RSASign
		if *which == 4 {
			sign = r.crypto.ES256Sign
		}
		rate = max(rate, benchkit.Predict(r.cases[0].RPS, sign, r.crypto.Verify))
	}
	if rate == 0 {
		rate = 20000 // no results: more than this machine class serves
	}
	n := int(1.5*rate**seconds) + 2000
	fmt.Println(max(least, min(n, most)))
	return nil
}
