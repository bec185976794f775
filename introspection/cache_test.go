package introspection

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// flightOf returns the number of callers that joined the call of token,
// -1 when there is none.
func flightOf[T any](in *Introspector[T], token string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.flights[sha256.Sum256([]byte(token))]
	if f == nil {
		return -1
	}
	return f.Joined()
}

// flights returns the number of calls in progress.
func flights[T any](in *Introspector[T]) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.flights)
}

func TestConcurrentCallersShareOneCall(t *testing.T) {
	g := newGate()
	k := newKM(t, g.hold(respond(`{"active":true,"sub":"admin"}`)))
	t.Cleanup(g.open)
	in := newAnswers(t, k.config())
	if k.calls.Load() != 0 {
		t.Fatalf("Start made a call")
	}

	const callers = 50
	var wg sync.WaitGroup
	answers := make([]*Answer, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			var cached bool
			answers[i], cached, errs[i] = introspect(in, testToken)
			if cached {
				errs[i] = errors.New("reported cached while the call was in flight")
			}
		})
	}
	testkit.WaitFor(t, "every caller waiting for the call", func() bool { return flightOf(in, testToken) == callers })
	g.open()
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || answers[i] != answers[0] || answers[0].Subject != "admin" {
			t.Fatalf("caller %d: %v, %+v", i, errs[i], answers[i])
		}
	}
	if got := k.calls.Load(); got != 1 {
		t.Fatalf("%d concurrent callers made %d calls, want 1", callers, got)
	}
	if _, cached, err := introspect(in, testToken); !cached || err != nil {
		t.Fatalf("next caller: cached %v, %v", cached, err)
	}
}

func TestCallerLeavingDoesNotEndTheCall(t *testing.T) {
	g := newGate()
	k := newKM(t, g.hold(respond(`{"active":true,"sub":"admin"}`)))
	t.Cleanup(g.open)
	in := newAnswers(t, k.config())
	digest := sha256.Sum256([]byte(testToken))

	ctx, leave := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() {
		_, _, err := in.Introspect(ctx, testToken, digest)
		left <- err
	}()
	testkit.WaitFor(t, "the first caller's call", func() bool { return k.inFlight.Load() == 1 })
	stayed := make(chan error, 1)
	go func() {
		a, _, err := introspect(in, testToken)
		if err == nil && a.Subject != "admin" {
			err = fmt.Errorf("subject %q", a.Subject)
		}
		stayed <- err
	}()
	testkit.WaitFor(t, "two callers waiting", func() bool { return flightOf(in, testToken) == 2 })

	leave()
	if err := <-left; !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that left: got %v, want ErrUnavailable for its cancelled context", err)
	}
	g.open() // the call goes on for the caller that stayed
	if err := <-stayed; err != nil {
		t.Fatalf("the caller that stayed: %v", err)
	}
	if got := k.calls.Load(); got != 1 {
		t.Fatalf("%d calls, want 1", got)
	}
}

func TestLastCallerLeavingEndsTheCall(t *testing.T) {
	g := newGate()
	k := newKM(t, g.hold(respond(`{"active":true,"sub":"admin"}`)))
	t.Cleanup(g.open)
	in := newAnswers(t, k.config())

	ctx, leave := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() {
		_, _, err := in.Introspect(ctx, testToken, sha256.Sum256([]byte(testToken)))
		left <- err
	}()
	testkit.WaitFor(t, "the call", func() bool { return k.inFlight.Load() == 1 })
	leave()
	if err := <-left; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	// The server sees the call end though the gate stays closed.
	testkit.WaitFor(t, "the abandoned call to end", func() bool { return k.inFlight.Load() == 0 && flights(in) == 0 })
	if st := in.Stats(); st.Calls[OutcomeError] != 1 || st.Cached != 0 || st.Negative != 0 {
		t.Fatalf("stats %+v, want one failed call and nothing cached", st)
	}

	g.open()
	if _, cached, err := introspect(in, testToken); cached || err != nil {
		t.Fatalf("next caller: cached %v, %v; want a new call", cached, err)
	}
	if got := k.calls.Load(); got != 2 {
		t.Fatalf("%d calls, want 2", got)
	}
}

func TestNegativeAnswersCachedForNegativeTTL(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	tests := []struct {
		name   string
		answer string
		want   error
	}{
		{"inactive", `{"active":false}`, ErrInactive},
		{"refresh token", `{"active":true,"token_use":"refresh_token"}`, ErrInactive},
		{"another issuer", `{"active":true,"iss":"https://evil.example"}`, ErrInvalid},
		{"expired", active(t0.Unix()-3600, ""), ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testClock.fix(t, t0)
			k := newKM(t, respond(tc.answer))
			cfg := k.config()
			cfg.NegativeTTL = 30 * time.Second
			in := newAnswers(t, cfg)
			for i, want := range []struct {
				cached bool
				calls  int64
				wait   time.Duration // before the call
			}{{false, 1, 0}, {true, 1, 0}, {true, 1, 29 * time.Second}, {false, 2, time.Second}} {
				testClock.advance(want.wait)
				_, cached, err := introspect(in, testToken)
				if !errors.Is(err, tc.want) || cached != want.cached || k.calls.Load() != want.calls {
					t.Fatalf("request %d: cached %v, %v, %d calls; want cached %v, %v, %d calls",
						i+1, cached, err, k.calls.Load(), want.cached, tc.want, want.calls)
				}
			}
			if st := in.Stats(); st.Negative != 1 || st.Cached != 0 {
				t.Fatalf("stats %+v, want one negative entry", st)
			}
		})
	}
}

func TestUnavailableIsNotCached(t *testing.T) {
	k := newKM(t, status(500))
	in := newAnswers(t, k.config())
	for i := range 2 {
		if _, cached, err := introspect(in, testToken); !errors.Is(err, ErrUnavailable) || cached {
			t.Fatalf("request %d: cached %v, %v", i+1, cached, err)
		}
	}
	if got := k.calls.Load(); got != 2 {
		t.Fatalf("%d calls for two requests, want 2", got)
	}
	k.setAnswer(respond(`{"active":true}`))
	if _, cached, err := introspect(in, testToken); err != nil || cached {
		t.Fatalf("after the endpoint recovered: cached %v, %v", cached, err)
	}
	if st := in.Stats(); st.Cached != 1 || st.Negative != 0 || st.Calls[OutcomeError] != 2 || st.Calls[OutcomeActive] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestActiveAnswersCachedUntilExpAtMostCacheTTL(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	type step struct {
		wait   time.Duration // before the request
		cached bool
		want   error
		calls  int64
	}
	tests := []struct {
		name   string
		answer string
		steps  []step
	}{
		{"no exp: CacheTTL", `{"active":true}`, []step{
			{0, false, nil, 1},
			{time.Minute - time.Second, true, nil, 1},
			{time.Second, false, nil, 2},
		}},
		{"exp after CacheTTL: CacheTTL", active(t0.Unix()+3600, ""), []step{
			{0, false, nil, 1},
			{time.Minute - time.Second, true, nil, 1},
			{time.Second, false, nil, 2},
		}},
		{"exp before CacheTTL: a hit after exp is expired", active(t0.Unix()+30, ""), []step{
			{0, false, nil, 1},
			{34 * time.Second, true, nil, 1},       // exp passed, within the skew
			{2 * time.Second, true, ErrExpired, 1}, // past the skew: no call
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testClock.fix(t, t0)
			k := newKM(t, respond(tc.answer))
			cfg := k.config()
			cfg.CacheTTL = time.Minute
			in := newAnswers(t, cfg)
			for i, s := range tc.steps {
				testClock.advance(s.wait)
				_, cached, err := introspect(in, testToken)
				if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) || cached != s.cached || k.calls.Load() != s.calls {
					t.Fatalf("request %d: cached %v, %v, %d calls; want cached %v, %v, %d calls",
						i+1, cached, err, k.calls.Load(), s.cached, s.want, s.calls)
				}
			}
		})
	}
}

func TestCacheBound(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	testClock.fix(t, t0)
	answers := map[string]string{}
	var tokens []string
	for i := range 4 { // the first expires first
		tok := fmt.Sprintf("token-%d", i)
		tokens = append(tokens, tok)
		answers[tok] = active(t0.Unix()+int64(100*(i+1)), "")
	}
	k := newKM(t, byToken(answers))
	cfg := k.config()
	cfg.CacheSize = 3
	in := newAnswers(t, cfg)
	for _, tok := range tokens {
		if _, _, err := introspect(in, tok); err != nil {
			t.Fatal(err)
		}
	}
	if st := in.Stats(); st.Cached != 3 {
		t.Fatalf("%d answers cached with CacheSize 3", st.Cached)
	}
	for _, tok := range tokens[1:] {
		if _, cached, err := introspect(in, tok); !cached || err != nil {
			t.Fatalf("%s: cached %v, %v", tok, cached, err)
		}
	}
	if _, cached, err := introspect(in, tokens[0]); cached || err != nil {
		t.Fatalf("the soonest-expiring token, evicted by the 4th: cached %v, %v", cached, err)
	}
	if got := k.calls.Load(); got != 5 {
		t.Fatalf("%d calls, want 5", got)
	}
}

func TestCacheOff(t *testing.T) {
	k := newKM(t, respond(`{"active":true}`))
	cfg := k.config()
	cfg.CacheSize = 0
	in := newAnswers(t, cfg)
	for range 2 {
		if _, cached, err := introspect(in, testToken); cached || err != nil {
			t.Fatalf("cached %v, %v", cached, err)
		}
	}
	if got := k.calls.Load(); got != 2 {
		t.Fatalf("%d calls without a cache, want 2", got)
	}
}

func TestForgetAndFlush(t *testing.T) {
	k := newKM(t, byToken(map[string]string{"a": `{"active":true}`, "b": `{"active":true}`}))
	in := newAnswers(t, k.config())
	ask := func(tok string, wantCached bool) {
		t.Helper()
		if _, cached, _ := introspect(in, tok); cached != wantCached {
			t.Fatalf("%s: cached %v, want %v", tok, cached, wantCached)
		}
	}
	ask("a", false)
	ask("b", false)
	ask("inactive", false)
	in.Forget(sha256.Sum256([]byte("a")))
	in.Forget(sha256.Sum256([]byte("inactive")))
	ask("a", false)
	ask("b", true)
	ask("inactive", false)
	in.Flush()
	if st := in.Stats(); st.Cached != 0 || st.Negative != 0 {
		t.Fatalf("after Flush: %+v", st)
	}
	ask("a", false)
	ask("b", false)
	ask("inactive", false)
	if got := k.calls.Load(); got != 8 {
		t.Fatalf("%d calls, want 8", got)
	}
}

func TestMaxConcurrent(t *testing.T) {
	const tokens = 5
	start := func(in *Introspector[*Answer], prefix string) (wait func() []error) {
		var wg sync.WaitGroup
		errs := make([]error, tokens)
		for i := range tokens {
			wg.Go(func() { _, _, errs[i] = introspect(in, fmt.Sprintf("%s-%d", prefix, i)) })
		}
		return func() []error { wg.Wait(); return errs }
	}

	t.Run("calls beyond the limit wait for a slot", func(t *testing.T) {
		g := newGate()
		k := newKM(t, g.hold(respond(`{"active":true}`)))
		t.Cleanup(g.open)
		cfg := k.config()
		cfg.MaxConcurrent = 2
		tr := &countingTransport{next: newTransport()}
		cfg.Transport = tr
		in := newAnswers(t, cfg)
		wait := start(in, "held")
		testkit.WaitFor(t, "two calls held and five started", func() bool { return k.inFlight.Load() == 2 && flights(in) == tokens })
		g.open()
		for i, err := range wait() {
			if err != nil {
				t.Errorf("token %d: %v", i, err)
			}
		}
		if k.calls.Load() != tokens || k.maxSeen.Load() != 2 || tr.maxSeen.Load() != 2 {
			t.Fatalf("%d calls, at most %d at once at the server, %d at the client; want %d calls, 2 at once",
				k.calls.Load(), k.maxSeen.Load(), tr.maxSeen.Load(), tokens)
		}
	})

	t.Run("waiting for a slot counts against the timeout", func(t *testing.T) {
		g := newGate() // never opened: every call hangs until it times out
		k := newKM(t, g.hold(respond(`{"active":true}`)))
		cfg := k.config()
		cfg.MaxConcurrent = 2
		cfg.Timeout = 100 * time.Millisecond
		tr := &countingTransport{next: newTransport()}
		cfg.Transport = tr
		in := newAnswers(t, cfg)
		for i, err := range start(in, "hung")() {
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("token %d: got %v, want ErrUnavailable", i, err)
			}
		}
		if tr.maxSeen.Load() > 2 {
			t.Fatalf("%d calls at once, want at most 2", tr.maxSeen.Load())
		}
		if st := in.Stats(); st.Calls[OutcomeError] != tokens || st.Negative != 0 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("no slot within the timeout", func(t *testing.T) {
		k := newKM(t, respond(`{"active":true}`))
		cfg := k.config()
		cfg.MaxConcurrent = 2
		cfg.Timeout = 20 * time.Millisecond
		in := newAnswers(t, cfg)
		in.slots <- struct{}{} // two calls in flight
		in.slots <- struct{}{}
		_, _, err := introspect(in, testToken)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "call slots") {
			t.Fatalf("got %v, want ErrUnavailable waiting for a slot", err)
		}
		if k.calls.Load() != 0 {
			t.Fatalf("a call was made without a slot")
		}
		<-in.slots
		if _, _, err := introspect(in, testToken); err != nil {
			t.Fatalf("with a slot free: %v", err)
		}
	})
}

func TestEmptyTokenMakesNoCall(t *testing.T) {
	k := newKM(t, respond(`{"active":true}`))
	in := newAnswers(t, k.config())
	if _, _, err := introspect(in, ""); !errors.Is(err, ErrInvalid) || k.calls.Load() != 0 {
		t.Fatalf("got %v after %d calls, want ErrInvalid without a call", err, k.calls.Load())
	}
}
