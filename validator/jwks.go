package validator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxJWKSBytes caps a JWKS response. Real sets are a few kilobytes.
const maxJWKSBytes = 1 << 20

// keySet is one successful fetch of a JWKS: its keys by kid.
type keySet struct {
	byKID     map[string][]publicKey
	keys      int
	fetchedAt time.Time
}

// FetchResult tells an observer how a JWKS fetch ended.
type FetchResult struct {
	Issuer, URL string
	// Err is nil on success.
	Err error
	// Keys is the number of usable keys fetched; Dropped the number left out.
	Keys, Dropped int
	// Forced is true for a fetch caused by an unknown kid, false for the
	// scheduled ones.
	Forced bool
}

// jwksSource keeps one issuer's JWKS fresh. The last good set keeps serving
// when a refresh fails.
type jwksSource struct {
	issuer     string
	url        string
	client     *http.Client
	refresh    time.Duration
	minRefresh time.Duration
	observe    func(FetchResult)
	shared     *KeySets // the last good sets across Validators; may be nil

	set atomic.Pointer[keySet] // nil until the first successful fetch

	mu         sync.Mutex
	lastForced time.Time
	inflight   chan struct{} // closed when the forced fetch under way ends
}

// run fetches the set now and then every refresh, or every minRefresh while
// fetches fail, until ctx is done.
func (s *jwksSource) run(ctx context.Context) {
	for {
		wait := s.refresh
		if err := s.fetch(ctx, false); err != nil {
			wait = s.minRefresh
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refetch fetches the set now because a token named a kid it does not hold,
// unless a forced fetch already ran within minRefresh. A caller that arrives
// while one is under way waits for it. It reports whether a fetch was made.
func (s *jwksSource) refetch(ctx context.Context) bool {
	s.mu.Lock()
	if ch := s.inflight; ch != nil {
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return true
	}
	if !s.lastForced.IsZero() && now().Sub(s.lastForced) < s.minRefresh {
		s.mu.Unlock()
		return false
	}
	s.lastForced = now()
	ch := make(chan struct{})
	s.inflight = ch
	s.mu.Unlock()

	_ = s.fetch(ctx, true)

	s.mu.Lock()
	s.inflight = nil
	s.mu.Unlock()
	close(ch)
	return true
}

// fetch gets and parses the set, replacing the current one on success.
func (s *jwksSource) fetch(ctx context.Context, forced bool) error {
	keys, dropped, err := s.get(ctx)
	if err == nil && len(keys) == 0 {
		err = fmt.Errorf("no usable signing key in the set (%d dropped)", dropped)
	}
	if s.observe != nil {
		s.observe(FetchResult{Issuer: s.issuer, URL: s.url, Err: err, Keys: len(keys), Dropped: dropped, Forced: forced})
	}
	if err != nil {
		return err
	}
	set := &keySet{byKID: make(map[string][]publicKey, len(keys)), keys: len(keys), fetchedAt: time.Now()}
	for _, k := range keys {
		set.byKID[k.kid] = append(set.byKID[k.kid], k)
	}
	s.set.Store(set)
	s.shared.store(s.issuer, s.url, set)
	return nil
}

func (s *jwksSource) get(ctx context.Context) ([]publicKey, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetching JWKS: %w", err)
	}
	// Drain what is left (bounded) and close, so the connection is reused
	// rather than leaked, whatever the answer was.
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSBytes))
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetching JWKS: HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, errors.New("JWKS larger than 1 MiB")
	}
	return parseJWKS(body)
}

// lookup returns the keys with kid, refetching the set once (rate limited)
// when the kid is unknown. It returns ErrKeysUnavailable when no set was
// ever fetched.
func (s *jwksSource) lookup(ctx context.Context, kid string) ([]publicKey, error) {
	set := s.set.Load()
	if set != nil {
		if keys := set.byKID[kid]; len(keys) > 0 {
			return keys, nil
		}
	}
	if s.refetch(ctx) {
		set = s.set.Load()
		if set != nil {
			if keys := set.byKID[kid]; len(keys) > 0 {
				return keys, nil
			}
		}
	}
	if set == nil {
		return nil, fmt.Errorf("%w: no JWKS fetched yet from %s", ErrKeysUnavailable, s.url)
	}
	return nil, invalidf("unknown kid %.64q", kid)
}

// KeySets keeps the last good key set of every issuer's JWKS, by issuer
// and URL, so that a Validator built for a new config (a reload) starts
// with the keys its predecessor fetched instead of with none: during a
// JWKS outage the last good keys keep serving across reloads. It is safe
// for concurrent use; share one across the Validators of a process.
type KeySets struct {
	m sync.Map // keySetKey -> *keySet
}

// NewKeySets returns an empty store.
func NewKeySets() *KeySets { return &KeySets{} }

type keySetKey struct{ issuer, url string }

func (k *KeySets) load(issuer, url string) *keySet {
	if k == nil {
		return nil
	}
	if v, ok := k.m.Load(keySetKey{issuer, url}); ok {
		return v.(*keySet)
	}
	return nil
}

func (k *KeySets) store(issuer, url string, set *keySet) {
	if k != nil {
		k.m.Store(keySetKey{issuer, url}, set)
	}
}
