package jwtgen

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// minter counts its calls and returns distinct tokens expiring at exp.
type minter struct {
	calls atomic.Int64
	exp   time.Time
	delay time.Duration
}

func (m *minter) mint() (string, time.Time, error) {
	n := m.calls.Add(1)
	if m.delay > 0 {
		time.Sleep(m.delay)
	}
	return fmt.Sprintf("token-%d", n), m.exp, nil
}

// TestTokenCacheServesTheSameToken checks, with real generated tokens, that
// the same inbound token and API get the identical token (same jti), and a
// different inbound token or API a different one.
func TestTokenCacheServesTheSameToken(t *testing.T) {
	g := mustNew(t, defaultConfig(ES256))
	cache := NewTokenCache(100, 0.25)
	now := time.Now()
	get := func(inbound, api, version string) (string, bool) {
		t.Helper()
		tok, hit, err := cache.Get(CacheKey(inbound, api, version), now, 5*time.Second, func() (string, time.Time, error) {
			in := liveInput(t)
			in.API = &API{Name: api, Version: version, Context: "/" + api}
			return g.Generate(in)
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok, hit
	}
	jti := func(tok string) string { return decode(t, tok, EncodingBase64URL).claims["jti"].(string) }

	first, hit := get("inbound-A", "PizzaShackAPI", "1.0.0")
	if hit {
		t.Error("first Get was a hit")
	}
	for _, tc := range []struct {
		name                  string
		inbound, api, version string
		wantSame              bool
	}{
		{name: "same token and API", inbound: "inbound-A", api: "PizzaShackAPI", version: "1.0.0", wantSame: true},
		{name: "other inbound token", inbound: "inbound-B", api: "PizzaShackAPI", version: "1.0.0"},
		{name: "other API name", inbound: "inbound-A", api: "OtherAPI", version: "1.0.0"},
		{name: "other API version", inbound: "inbound-A", api: "PizzaShackAPI", version: "2.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, hit := get(tc.inbound, tc.api, tc.version)
			if tc.wantSame {
				if !hit || tok != first || jti(tok) != jti(first) {
					t.Errorf("hit %v, same token %v", hit, tok == first)
				}
				return
			}
			if hit || tok == first || jti(tok) == jti(first) {
				t.Errorf("hit %v, same token %v", hit, tok == first)
			}
		})
	}
}

// TestCacheKey checks that CacheKey is a SHA-256 digest that separates its
// parts unambiguously.
func TestCacheKey(t *testing.T) {
	type parts [3]string
	for _, tc := range []struct {
		name string
		a, b parts
	}{
		{name: "boundary between token and name", a: parts{"ab", "c", "1"}, b: parts{"a", "bc", "1"}},
		{name: "boundary between name and version", a: parts{"t", "ab", "c"}, b: parts{"t", "a", "bc"}},
		{name: "empty parts shifted", a: parts{"", "a", ""}, b: parts{"a", "", ""}},
		{name: "separator-like content", a: parts{"a\x00", "b", ""}, b: parts{"a", "\x00b", ""}},
		{name: "length prefix forged in content", a: parts{"a", "\x00\x00\x00\x00\x00\x00\x00\x01b", ""}, b: parts{"a\x00\x00\x00\x00\x00\x00\x00\x01", "b", ""}},
		{name: "version", a: parts{"t", "api", "1.0.0"}, b: parts{"t", "api", "1.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ka, kb := CacheKey(tc.a[0], tc.a[1], tc.a[2]), CacheKey(tc.b[0], tc.b[1], tc.b[2])
			if ka == kb {
				t.Errorf("%q and %q share a key", tc.a, tc.b)
			}
			if len(ka) != 32 || ka != CacheKey(tc.a[0], tc.a[1], tc.a[2]) {
				t.Errorf("key not a stable 32-byte digest: %x", ka)
			}
		})
	}
}

// TestTokenCacheCapacity checks that 20,000 distinct keys never make the
// cache hold more than its capacity.
func TestTokenCacheCapacity(t *testing.T) {
	const capacity = 1000
	cache := NewTokenCache(capacity, 0.25)
	now := time.Now()
	m := &minter{exp: now.Add(time.Hour)}
	for i := range 20000 {
		if _, _, err := cache.Get(CacheKey(fmt.Sprint("inbound-", i), "api", "v"), now, 0, m.mint); err != nil {
			t.Fatal(err)
		}
		if n := cache.Len(); n > capacity {
			t.Fatalf("after %d keys the cache holds %d > %d", i+1, n, capacity)
		}
	}
	if m.calls.Load() != 20000 {
		t.Errorf("%d mints for 20000 distinct keys", m.calls.Load())
	}
	if cache.Len() < capacity/2 {
		t.Errorf("cache holds only %d", cache.Len())
	}
}

// TestTokenCacheEvictsSoonest checks that a full cache drops the share that
// expires soonest.
func TestTokenCacheEvictsSoonest(t *testing.T) {
	const capacity = 10
	cache := NewTokenCache(capacity, 0.2) // drops 2
	now := time.Now()
	// Expiries in scrambled order: key k expires at now + 1h + order[k] minutes.
	order := []int{5, 0, 9, 3, 1, 8, 2, 7, 4, 6}
	for k, o := range order {
		exp := now.Add(time.Hour + time.Duration(o)*time.Minute)
		if _, _, err := cache.Get(fmt.Sprint("k", k), now, 0, func() (string, time.Time, error) { return fmt.Sprint("tok", k), exp, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := cache.Get("new", now, 0, func() (string, time.Time, error) { return "new", now.Add(2 * time.Hour), nil }); err != nil {
		t.Fatal(err)
	}
	for k, o := range order {
		_, hit, err := cache.Get(fmt.Sprint("k", k), now, 0, func() (string, time.Time, error) { return "re-minted", now.Add(time.Hour), nil })
		if err != nil {
			t.Fatal(err)
		}
		if wantEvicted := o < 2; hit == wantEvicted {
			t.Errorf("key k%d (expiry rank %d): hit %v, want evicted %v", k, o, hit, wantEvicted)
		}
		// Put the cache back: a miss just inserted (and evicted) again.
		if !hit {
			cache.Delete(fmt.Sprint("k", k))
		}
	}
}

// TestTokenCacheReMint checks the clock-skew margin: a token is served while
// at least minRemaining of its life is left, then re-minted.
func TestTokenCacheReMint(t *testing.T) {
	base := time.Now()
	exp := base.Add(10 * time.Minute)
	for _, tc := range []struct {
		name         string
		at           time.Time
		minRemaining time.Duration
		wantHit      bool
	}{
		{name: "fresh", at: base, minRemaining: 5 * time.Second, wantHit: true},
		{name: "just enough left", at: exp.Add(-5 * time.Second), minRemaining: 5 * time.Second, wantHit: true},
		{name: "less than the skew left", at: exp.Add(-4 * time.Second), minRemaining: 5 * time.Second, wantHit: false},
		{name: "no skew, a second left", at: exp.Add(-time.Second), minRemaining: 0, wantHit: true},
		{name: "past exp", at: exp.Add(time.Second), minRemaining: 0, wantHit: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := NewTokenCache(10, 0.25)
			m := &minter{exp: exp}
			first, _, err := cache.Get("k", base, tc.minRemaining, m.mint)
			if err != nil {
				t.Fatal(err)
			}
			m.exp = exp.Add(time.Hour)
			tok, hit, err := cache.Get("k", tc.at, tc.minRemaining, m.mint)
			if err != nil {
				t.Fatal(err)
			}
			if hit != tc.wantHit || (tok == first) != tc.wantHit {
				t.Errorf("hit %v (token %s, first %s), want hit %v", hit, tok, first, tc.wantHit)
			}
			if want := int64(1); !tc.wantHit {
				if m.calls.Load() != want+1 {
					t.Errorf("%d mints, want 2", m.calls.Load())
				}
				// The re-minted token is cached in place of the old one.
				again, hit, _ := cache.Get("k", tc.at, tc.minRemaining, m.mint)
				if !hit || again != tok {
					t.Errorf("re-minted token not cached: hit %v", hit)
				}
			}
		})
	}
}

// TestTokenCacheSingleFlight checks that 64 goroutines missing on one key
// mint once and all get that token.
func TestTokenCacheSingleFlight(t *testing.T) {
	cache := NewTokenCache(10, 0.25)
	now := time.Now()
	m := &minter{exp: now.Add(time.Hour), delay: 50 * time.Millisecond}
	key := CacheKey("inbound", "api", "1")
	start := make(chan struct{})
	var wg sync.WaitGroup
	tokens := make([]string, 64)
	errs := make([]error, 64)
	for i := range tokens {
		wg.Go(func() {
			<-start
			tokens[i], _, errs[i] = cache.Get(key, now, time.Second, m.mint)
		})
	}
	close(start)
	wg.Wait()
	if n := m.calls.Load(); n != 1 {
		t.Errorf("%d mints, want 1", n)
	}
	for i, tok := range tokens {
		if errs[i] != nil || tok != tokens[0] {
			t.Errorf("goroutine %d: %q, %v", i, tok, errs[i])
		}
	}
}

// TestTokenCacheMintError checks that a failed mint is reported and nothing
// is cached.
func TestTokenCacheMintError(t *testing.T) {
	cache := NewTokenCache(10, 0.25)
	boom := errors.New("boom")
	_, hit, err := cache.Get("k", time.Now(), 0, func() (string, time.Time, error) { return "", time.Time{}, boom })
	if !errors.Is(err, boom) || hit {
		t.Errorf("err %v, hit %v", err, hit)
	}
	if cache.Len() != 0 {
		t.Errorf("cache holds %d after a failed mint", cache.Len())
	}
}

// TestTokenCacheRunStops checks that the janitor removes expired tokens and
// returns when its context is cancelled.
func TestTokenCacheRunStops(t *testing.T) {
	cache := NewTokenCache(10, 0.25)
	now := time.Now()
	if _, _, err := cache.Get("short", now, 0, func() (string, time.Time, error) { return "t", now.Add(50 * time.Millisecond), nil }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		cache.RunEvery(ctx, 10*time.Millisecond)
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for cache.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if cache.Len() != 0 {
		t.Error("janitor did not remove the expired token")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunEvery did not return after cancel")
	}

	ctx2, cancel2 := context.WithCancel(t.Context())
	done2 := make(chan struct{})
	go func() {
		cache.Run(ctx2)
		close(done2)
	}()
	cancel2()
	select {
	case <-done2:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// fillWithTokens caches n distinct tokens shaped like tok.
func fillWithTokens(tb testing.TB, cache *TokenCache, tok string, n int) {
	now := time.Now()
	exp := now.Add(time.Hour)
	for i := range n {
		distinct := tok[:len(tok)-8] + fmt.Sprintf("%08d", i)
		if _, _, err := cache.Get(CacheKey(fmt.Sprint("inbound-", i), "PizzaShackAPI", "1.0.0"), now, 0, func() (string, time.Time, error) {
			return strings.Clone(distinct), exp, nil
		}); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestTokenCacheMemory holds 10,000 RS256 tokens of the worked example and
// checks the heap they take (target at most 30 MiB).
func TestTokenCacheMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	tok := mustGenerate(t, mustNew(t, defaultConfig(RS256)), liveInput(t))
	before := heapInUse()
	cache := NewTokenCache(10000, 0.25)
	fillWithTokens(t, cache, tok, 10000)
	after := heapInUse()
	if cache.Len() != 10000 {
		t.Fatalf("cache holds %d", cache.Len())
	}
	mib := float64(int64(after)-int64(before)) / (1 << 20)
	t.Logf("10,000 cached tokens of %d bytes: %.2f MiB of heap (%.0f bytes per token)", len(tok), mib, mib*(1<<20)/10000)
	if mib > 30 {
		t.Errorf("10,000 tokens take %.2f MiB, want at most 30", mib)
	}
	runtime.KeepAlive(cache)
}

// lengthPrefixed is the encoding the cache keys hash, built the slow way.
func lengthPrefixed(first []byte, parts ...string) []byte {
	b := append([]byte(nil), first...)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}

// TestCacheKeyEncoding checks both key functions against the documented
// encoding, for short and long parts, and that their key spaces differ.
func TestCacheKeyEncoding(t *testing.T) {
	long := strings.Repeat("x", 1000)
	for _, tc := range []struct {
		name                string
		token, api, version string
	}{
		{name: "short", token: "tok", api: "PizzaShackAPI", version: "1.0.0"},
		{name: "empty", token: "", api: "", version: ""},
		{name: "long token", token: long + "t", api: "a", version: "v"},
		{name: "long api", token: "t", api: long, version: "v"},
		{name: "long version", token: "t", api: "a", version: long + "!"},
		{name: "api at the buffer edge", token: "t", api: strings.Repeat("y", 256-8), version: strings.Repeat("z", 300)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := sha256.Sum256(lengthPrefixed(nil, tc.token, tc.api, tc.version))
			if got := CacheKey(tc.token, tc.api, tc.version); got != string(want[:]) {
				t.Errorf("CacheKey = %x, want %x", got, want)
			}
			digest := sha256.Sum256([]byte(tc.token))
			marker := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
			wantD := sha256.Sum256(lengthPrefixed(append(marker, digest[:]...), tc.api, tc.version))
			got := CacheKeyDigest(digest, tc.api, tc.version)
			if got != string(wantD[:]) {
				t.Errorf("CacheKeyDigest = %x, want %x", got, wantD)
			}
			if got == CacheKey(tc.token, tc.api, tc.version) {
				t.Error("CacheKeyDigest equals CacheKey")
			}
		})
	}
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	for _, tc := range []struct {
		name string
		x, y string
	}{
		{name: "api/version boundary", x: CacheKeyDigest(a, "ab", "c"), y: CacheKeyDigest(a, "a", "bc")},
		{name: "token", x: CacheKeyDigest(a, "api", "1"), y: CacheKeyDigest(b, "api", "1")},
	} {
		if tc.x == tc.y {
			t.Errorf("%s: keys equal", tc.name)
		}
	}
}

// TestCacheKeyDigestMore: the values a token depends on besides the API
// change the key, each apart from the others.
func TestCacheKeyDigestMore(t *testing.T) {
	d := sha256.Sum256([]byte("token"))
	keys := map[string]string{}
	for name, parts := range map[string][]string{
		"none": nil, "one": {"x"}, "empty": {""}, "two": {"x", "y"}, "joined": {"xy"}, "split": {"", "xy"},
	} {
		k := CacheKeyDigest(d, "PizzaShackAPI", "1.0.0", parts...)
		for other, ok := range keys {
			if ok == k {
				t.Errorf("%s and %s give one key", name, other)
			}
		}
		keys[name] = k
	}
}
