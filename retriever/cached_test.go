package retriever

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestCachedHitWithinExpiry(t *testing.T) {
	km := newKM(t, answer(http.StatusOK, okBody))
	c := NewCached(newWSO2(t, km.URL, nil), time.Hour, 100)
	req := request("https://localhost:9443/oauth2/token", "admin@carbon.super")

	for i, wantHit := range []bool{false, true, true} {
		claims, hit, err := c.Retrieve(t.Context(), req)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if hit != wantHit {
			t.Errorf("call %d: hit %v, want %v", i, hit, wantHit)
		}
		if !reflect.DeepEqual(claims, okClaims) {
			t.Errorf("call %d: claims %v, want %v", i, claims, okClaims)
		}
	}
	if n := km.calls.Load(); n != 1 {
		t.Errorf("the key manager saw %d requests, want 1", n)
	}
	if c.Len() != 1 {
		t.Errorf("Len %d, want 1", c.Len())
	}
}

func TestCachedExpiry(t *testing.T) {
	const expiry = 50 * time.Millisecond
	km := newKM(t, answer(http.StatusOK, okBody))
	c := NewCached(newWSO2(t, km.URL, nil), expiry, 100)
	req := request("iss", "admin@carbon.super")

	if _, _, err := c.Retrieve(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * expiry) // only ever longer on a loaded machine
	_, hit, err := c.Retrieve(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if hit {
		t.Error("an expired entry was a hit")
	}
	if n := km.calls.Load(); n != 2 {
		t.Errorf("the key manager saw %d requests, want 2", n)
	}
}

func TestCachedNoExpiryKeepsNothing(t *testing.T) {
	tests := []struct {
		name   string
		expiry time.Duration
	}{
		{"zero", 0},
		{"negative", -time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := claimsOf()
			c := NewCached(f, tc.expiry, 10)
			for range 3 {
				if _, hit, err := c.Retrieve(t.Context(), request("iss", "admin")); err != nil || hit {
					t.Fatalf("hit %v, error %v", hit, err)
				}
			}
			if n := f.calls.Load(); n != 3 {
				t.Errorf("%d calls, want 3", n)
			}
			if c.Len() != 0 {
				t.Errorf("Len %d, want 0", c.Len())
			}
		})
	}
}

func TestCachedSingleFlight(t *testing.T) {
	const callers = 50
	release := make(chan struct{})
	km := newKM(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		answer(http.StatusOK, okBody)(w, r)
	})
	c := NewCached(newWSO2(t, km.URL, func(cfg *WSO2Config) { cfg.Timeout = time.Minute }), time.Hour, 100)

	var started, done sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		started.Add(1)
		done.Go(func() {
			started.Done()
			claims, _, err := c.Retrieve(context.Background(), request("iss", "admin@carbon.super"))
			if err == nil && !reflect.DeepEqual(claims, okClaims) {
				err = fmt.Errorf("claims %v", claims)
			}
			errs <- err
		})
	}
	started.Wait()
	<-km.first
	time.Sleep(50 * time.Millisecond) // let the others join; later ones hit the cache anyway
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := km.calls.Load(); n != 1 {
		t.Errorf("the key manager saw %d requests for %d concurrent callers, want 1", n, callers)
	}
}

func TestCachedKeys(t *testing.T) {
	type call struct{ iss, sub string }
	tests := []struct {
		name      string
		calls     []call
		wantCalls int64
	}{
		{"same issuer and user", []call{{"iss", "admin@carbon.super"}, {"iss", "admin@carbon.super"}}, 1},
		{"different issuers, same user", []call{{"https://a.example", "admin"}, {"https://b.example", "admin"}}, 2},
		{"issuer and user split differently", []call{{"a", "bc"}, {"ab", "c"}}, 2},
		{"user looks like a length prefix", []call{{"1:a", "b"}, {"1", ":ab"}}, 2},
		{"different users", []call{{"iss", "alice"}, {"iss", "bob"}}, 2},
		{"tenant is not part of the user", []call{{"iss", "admin@carbon.super"}, {"iss", "admin@other.tenant"}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := claimsOf()
			c := NewCached(f, time.Hour, 100)
			for _, cl := range tc.calls {
				claims, _, err := c.Retrieve(t.Context(), request(cl.iss, cl.sub))
				if err != nil {
					t.Fatal(err)
				}
				if tc.wantCalls > 1 && (claims["iss"] != cl.iss || claims["user"] != Username(cl.sub)) {
					t.Errorf("%v got the claims of %v", cl, claims)
				}
			}
			if n := f.calls.Load(); n != tc.wantCalls {
				t.Errorf("%d calls, want %d", n, tc.wantCalls)
			}
			if got := int64(c.Len()); got != tc.wantCalls {
				t.Errorf("Len %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestCachedPassesUsername(t *testing.T) {
	var got *Request
	f := &fakeRetriever{fn: func(_ context.Context, req *Request) (map[string]any, error) {
		got = req
		return nil, nil
	}}
	c := NewCached(f, time.Hour, 10)
	if _, _, err := c.Retrieve(t.Context(), &Request{Issuer: "iss", Subject: "a@b.com@carbon.super"}); err != nil {
		t.Fatal(err)
	}
	if got.Username != "a@b.com" || got.Subject != "a@b.com@carbon.super" || got.Issuer != "iss" {
		t.Errorf("the retriever got %+v", got)
	}
}

func TestCachedCapacity(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		users    int
		wantMax  int
	}{
		{"bounded", 4, 10, 4},
		{"one", 1, 5, 1},
		{"not full", 10, 3, 3},
		{"default", 0, 20, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := claimsOf()
			c := NewCached(f, time.Hour, tc.capacity)
			var last *Request
			for i := range tc.users {
				last = request("iss", fmt.Sprintf("user%d@carbon.super", i))
				if _, _, err := c.Retrieve(t.Context(), last); err != nil {
					t.Fatal(err)
				}
				if c.Len() > tc.wantMax {
					t.Fatalf("Len %d after %d users, want at most %d", c.Len(), i+1, tc.wantMax)
				}
			}
			if _, hit, _ := c.Retrieve(t.Context(), last); !hit {
				t.Error("the newest user is not cached")
			}
		})
	}
}

func TestCachedErrorsNotCached(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"unavailable", fmt.Errorf("%w: 503", ErrUnavailable)},
		{"user not found", fmt.Errorf("%w: 404", ErrUserNotFound)},
		{"other", errors.New("something else")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fail = true
			f := &fakeRetriever{fn: func(context.Context, *Request) (map[string]any, error) {
				if fail {
					return nil, tc.err
				}
				return map[string]any{"ok": "yes"}, nil
			}}
			c := NewCached(f, time.Hour, 10)
			req := request("iss", "admin")
			for range 2 {
				_, hit, err := c.Retrieve(t.Context(), req)
				if !errors.Is(err, tc.err) || hit {
					t.Fatalf("error %v, hit %v; want %v, false", err, hit, tc.err)
				}
			}
			if c.Len() != 0 {
				t.Errorf("Len %d after errors, want 0", c.Len())
			}
			fail = false
			for i, wantHit := range []bool{false, true} {
				if _, hit, err := c.Retrieve(t.Context(), req); err != nil || hit != wantHit {
					t.Fatalf("after the errors, call %d: hit %v, error %v", i, hit, err)
				}
			}
			if n := f.calls.Load(); n != 3 {
				t.Errorf("%d calls, want 3", n)
			}
		})
	}
}

func TestCachedWithWSO2ErrorsNotCached(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"404", answer(http.StatusNotFound, ``), ErrUserNotFound},
		{"500", answer(http.StatusInternalServerError, ``), ErrUnavailable},
		{"malformed", answer(http.StatusOK, `<html>`), ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			km := newKM(t, tc.handler)
			c := NewCached(newWSO2(t, km.URL, nil), time.Hour, 10)
			for range 2 {
				_, _, err := c.Retrieve(t.Context(), request("iss", "admin"))
				checkErr(t, err, tc.want)
				checkNoSecret(t, err)
			}
			if n := km.calls.Load(); n != 2 {
				t.Errorf("the key manager saw %d requests, want 2", n)
			}
		})
	}
}

// TestCachedSlowKeyManager checks that callers waiting in the single
// flight on a key manager that does not answer return within the
// retriever's timeout, although their own contexts have no deadline.
func TestCachedSlowKeyManager(t *testing.T) {
	const (
		timeout = 300 * time.Millisecond
		callers = 10
	)
	km := newKM(t, blocking(t))
	c := NewCached(newWSO2(t, km.URL, func(cfg *WSO2Config) { cfg.Timeout = timeout }), time.Hour, 10)
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	within(t, timeout+margin, func() {
		for range callers {
			wg.Go(func() {
				_, _, err := c.Retrieve(context.Background(), request("iss", "admin"))
				errs <- err
			})
		}
		wg.Wait()
	})
	close(errs)
	for err := range errs {
		checkErr(t, err, ErrUnavailable)
	}
	if n := km.calls.Load(); n < 1 || n > callers {
		t.Errorf("the key manager saw %d requests", n)
	}
}

// TestCachedCallerGivesUp checks that a caller whose context ends stops
// waiting at once, while the call goes on for the others.
func TestCachedCallerGivesUp(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	f := &fakeRetriever{fn: func(ctx context.Context, req *Request) (map[string]any, error) {
		close(started)
		select {
		case <-release:
			return map[string]any{"user": req.Username}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
	c := NewCached(f, time.Hour, 10)
	req := request("iss", "admin")

	patient := make(chan error, 1)
	go func() {
		_, _, err := c.Retrieve(context.Background(), req)
		patient <- err
	}()
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	var err error
	within(t, 50*time.Millisecond+margin, func() {
		_, _, err = c.Retrieve(ctx, req)
	})
	checkErr(t, err, ErrUnavailable)
	checkErr(t, err, context.Canceled)

	close(release)
	select {
	case err := <-patient:
		checkErr(t, err, nil)
	case <-time.After(10 * time.Second):
		t.Fatal("the patient caller never got the claims")
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

// TestCachedAllGiveUp checks that the shared call is cancelled once every
// caller has given up, and that the next caller starts a new one.
func TestCachedAllGiveUp(t *testing.T) {
	cancelled := make(chan struct{}, 2)
	var mu sync.Mutex
	blockCalls := true
	f := &fakeRetriever{fn: func(ctx context.Context, _ *Request) (map[string]any, error) {
		mu.Lock()
		block := blockCalls
		mu.Unlock()
		if !block {
			return map[string]any{"ok": "yes"}, nil
		}
		<-ctx.Done()
		cancelled <- struct{}{}
		return nil, ctx.Err()
	}}
	c := NewCached(f, time.Hour, 10)
	req := request("iss", "admin")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := c.Retrieve(ctx, req)
	checkErr(t, err, ErrUnavailable)
	checkErr(t, err, context.DeadlineExceeded)
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the shared call was not cancelled")
	}

	mu.Lock()
	blockCalls = false
	mu.Unlock()
	claims, _, err := c.Retrieve(t.Context(), req)
	checkErr(t, err, nil)
	if claims["ok"] != "yes" {
		t.Errorf("claims %v", claims)
	}
}

func TestCachedCallerContextDone(t *testing.T) {
	f := claimsOf()
	c := NewCached(f, time.Hour, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := c.Retrieve(ctx, request("iss", "admin"))
	checkErr(t, err, ErrUnavailable)
	checkErr(t, err, context.Canceled)
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d calls for a cancelled caller, want 0", n)
	}
}

func TestCachedRetrieverPanics(t *testing.T) {
	f := &fakeRetriever{fn: func(context.Context, *Request) (map[string]any, error) {
		panic("boom")
	}}
	c := NewCached(f, time.Hour, 10)
	_, _, err := c.Retrieve(t.Context(), request("iss", "admin"))
	checkErr(t, err, ErrUnavailable)
	checkErr(t, err, errPanicked)
}

func TestCachedNilRequest(t *testing.T) {
	c := NewCached(claimsOf(), time.Hour, 10)
	if _, _, err := c.Retrieve(t.Context(), nil); err == nil {
		t.Error("no error for a nil request")
	}
	w := newWSO2(t, "http://127.0.0.1:1", nil)
	if _, err := w.Retrieve(t.Context(), nil); err == nil {
		t.Error("no error for a nil request")
	}
	if _, err := w.Retrieve(t.Context(), &Request{Issuer: "iss"}); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("error %v for no user, want ErrUserNotFound", err)
	}
}

func TestCachedRun(t *testing.T) {
	tests := []struct {
		name   string
		expiry time.Duration
	}{
		{"short expiry", 10 * time.Millisecond},
		{"long expiry", time.Hour},
		{"no expiry", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCached(claimsOf(), tc.expiry, 10)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				c.Run(ctx)
				close(done)
			}()
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
}

func TestCachedRunRemovesExpired(t *testing.T) {
	c := NewCached(claimsOf(), 10*time.Millisecond, 10)
	if _, _, err := c.Retrieve(t.Context(), request("iss", "admin")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for c.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the janitor did not remove the expired entry")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewCachedNilRetriever(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a nil retriever")
		}
	}()
	NewCached(nil, time.Hour, 10)
}
