package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

// server answers like the upstream behind backend_jwt would: the backend
// JWT is "present" when a Bearer token came, and status otherwise 200.
func server(t *testing.T, status int) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw := "absent"
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok") && r.URL.Path == benchkit.RequestPath {
			saw = "present"
		}
		w.Header().Set(benchkit.SawHeader, saw)
		w.WriteHeader(status)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func quickRun(t *testing.T, addr string, src source) *tally {
	t.Helper()
	tl, err := run(context.Background(), runConfig{
		addr: addr, connections: 2, warmup: 20 * time.Millisecond, maxWarmup: 5 * time.Second,
		duration: 200 * time.Millisecond, timeout: 5 * time.Second, expectJWT: true, src: src,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func TestRunCountsAnswersInTheWindow(t *testing.T) {
	src := &cycling{tokens: []string{"tok1", "tok2", "tok3"}}
	tl := quickRun(t, server(t, http.StatusOK), src)
	if tl.requests == 0 || len(tl.errors) != 0 {
		t.Fatalf("%d requests, errors %v (first: %s)", tl.requests, tl.errors, tl.first)
	}
	if tl.hist.Count() != uint64(tl.requests) || tl.hist.Quantile(0.5) <= 0 {
		t.Errorf("%d latencies for %d requests, median %v", tl.hist.Count(), tl.requests, tl.hist.Quantile(0.5))
	}
	if !src.warm() {
		t.Error("the window began before every token was sent once")
	}
}

func TestRunCountsErrors(t *testing.T) {
	tl := quickRun(t, server(t, http.StatusUnauthorized), &cycling{tokens: []string{"tok"}})
	if tl.requests == 0 || tl.errors["status 401"] != tl.requests {
		t.Errorf("%d requests, errors %v", tl.requests, tl.errors)
	}
	tl = quickRun(t, server(t, http.StatusOK), noTokens{})
	if tl.requests == 0 || tl.errors["no backend JWT"] != tl.requests {
		t.Errorf("without tokens: %d requests, errors %v", tl.requests, tl.errors)
	}
}

func TestRotateStartsTheWindowWithoutARound(t *testing.T) {
	tokens := make([]string, 100_000) // more than a short run can send
	for i := range tokens {
		tokens[i] = "tok"
	}
	src := &rotating{cycling{tokens: tokens}}
	tl := quickRun(t, server(t, http.StatusOK), src)
	if tl.requests == 0 || len(tl.errors) != 0 {
		t.Fatalf("%d requests, errors %v (first: %s)", tl.requests, tl.errors, tl.first)
	}
	if sent := src.n.Load(); sent >= uint64(len(tokens)) {
		t.Fatalf("sent %d tokens: a whole round", sent)
	}
}
