// Package introspection validates opaque OAuth access tokens with their key
// manager's introspection endpoint (RFC 7662), as WSO2's gateways do for
// tokens that are not JWTs: one POST per token, shared by the concurrent
// requests that carry it, bounded in time and in calls in flight, its answer
// checked as a JWT's claims are (iss, aud, exp, nbf, iat) and cached, active
// until its exp and at most CacheTTL, inactive for NegativeTTL.
//
// The package does not depend on Caddy. An Introspector turns active
// answers into the caller's validated-token type with a convert function,
// and every error it returns wraps exactly one of ErrInactive, ErrInvalid,
// ErrExpired or ErrUnavailable. A Router picks the Introspector of a token
// by the issuers' token patterns.
package introspection

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/flight"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/ttlcache"
)

// now is the clock of every validity decision; tests replace it.
var now = time.Now

// Defaults for the fields of Config left zero.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultCacheTTL      = 5 * time.Minute
	DefaultNegativeTTL   = 10 * time.Second
	DefaultMaxConcurrent = 32
	DefaultClockSkew     = 5 * time.Second
)

// cacheEviction is the share of a full cache dropped, soonest-expiring
// first, before a new entry is added (as for the validated-token cache).
const cacheEviction = 0.25

// janitorInterval is how often Start's janitor drops expired entries.
const janitorInterval = time.Minute

// The errors of Introspect. Every error it returns wraps exactly one of
// them, so that a caller maps errors to answers with errors.Is.
var (
	// ErrInactive: the answer says active false, or names another kind of
	// token than an access token in token_use.
	ErrInactive = errors.New("token is not active")
	// ErrInvalid: the answer says active, but is for another issuer or
	// audience, is not yet valid (nbf, iat), has a registered member of
	// the wrong type, or was refused by the convert function; also an
	// empty token, refused without a call.
	ErrInvalid = errors.New("invalid token")
	// ErrExpired: the answer's exp has passed, with the clock skew; also
	// for a cached answer whose exp has passed since.
	ErrExpired = errors.New("token expired")
	// ErrUnavailable: no usable answer (no connection, timeout, waiting
	// for a call slot too long, a status other than 200, not a strict
	// JSON object with a boolean active, larger than MaxAnswerSize), or
	// the caller's ctx ended while it waited. It is never the token's
	// fault, and is never cached.
	ErrUnavailable = errors.New("introspection unavailable")
)

// The outcomes of a call, as Call.Outcome and the keys of Stats.Calls.
const (
	OutcomeActive   = "active"   // an active answer, accepted
	OutcomeInactive = "inactive" // ErrInactive
	OutcomeInvalid  = "invalid"  // ErrInvalid or ErrExpired
	OutcomeError    = "error"    // ErrUnavailable
)

// outcomes lists the outcomes in the order of Introspector.calls.
var outcomes = [...]string{OutcomeActive, OutcomeInactive, OutcomeInvalid, OutcomeError}

// Config is one issuer's introspection endpoint.
type Config struct {
	// Issuer is the issuer block's issuer: an answer's iss, when present,
	// must equal it.
	Issuer string
	// URL is the endpoint. It must be https, except for a loopback host
	// (localhost, 127.0.0.0/8, ::1).
	URL string
	// ClientID and ClientSecret authenticate the calls with HTTP Basic
	// (client_secret_basic, each form-encoded first as RFC 6749 section
	// 2.3.1 says). No authentication when ClientID is empty.
	ClientID     string
	ClientSecret string
	// Audiences, when set, must include one of the answer's aud values (an
	// answer without aud is then refused).
	Audiences []string
	// Transport sends the calls; nil means a clone of
	// http.DefaultTransport. TLS is verified: a *http.Transport with
	// InsecureSkipVerify is refused.
	Transport http.RoundTripper
	// Timeout bounds waiting for a call slot and the call together, after
	// which the answer is ErrUnavailable; 0 means DefaultTimeout.
	Timeout time.Duration
	// CacheTTL is the longest an active answer is reused, never past its
	// exp (with ClockSkew); 0 means DefaultCacheTTL.
	CacheTTL time.Duration
	// NegativeTTL is how long an inactive or invalid answer is reused; 0
	// means DefaultNegativeTTL.
	NegativeTTL time.Duration
	// MaxConcurrent bounds the calls in flight; 0 means
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// CacheSize bounds the answers cached, active and inactive together:
	// a quarter of it (rounded down) holds inactive and invalid answers,
	// the rest active ones, so that a flood of unknown tokens cannot push
	// the valid ones out. 0 turns caching off; under 4, inactive answers
	// are not cached.
	CacheSize int
	// ClockSkew is the leeway of the exp, nbf and iat checks; 0 means
	// DefaultClockSkew.
	ClockSkew time.Duration
	// OnCall, if set, is told of every call made, before the callers
	// waiting for it are answered; it must not block.
	OnCall func(Call)
}

// Call describes one introspection call (or attempt: one that timed out
// waiting for a slot is told too).
type Call struct {
	// Outcome is OutcomeActive, OutcomeInactive, OutcomeInvalid or
	// OutcomeError.
	Outcome string
	// Duration is how long the call took, waiting for a slot included.
	Duration time.Duration
	// Err is why the answer was refused; nil for active and inactive.
	Err error
}

// Stats are an Introspector's counters.
type Stats struct {
	// Cached and Negative are the numbers of active, and of inactive or
	// invalid, answers cached (expired ones not yet dropped included).
	Cached, Negative int
	// Calls counts the calls made, by outcome.
	Calls map[string]int64
}

// Introspector validates the opaque tokens of one issuer with its
// introspection endpoint, turning active answers into values of type T. It
// is safe for concurrent use. A value is shared by every caller of its
// token (and by the cache), so it must not be changed.
type Introspector[T any] struct {
	cfg      Config
	endpoint string // cfg.URL without query or fragment, for errors
	client   *http.Client
	convert  func(*Answer) (T, error)
	slots    chan struct{} // a semaphore of MaxConcurrent calls

	pos *ttlcache.Cache[positive[T]] // nil when off
	neg *ttlcache.Cache[negative]    // nil when off

	mu      sync.Mutex // guards flights and the calls' waiting
	flights map[[32]byte]*flight.Call[T]

	calls [len(outcomes)]atomic.Int64
}

// positive is a cached active answer.
type positive[T any] struct {
	value   T
	expires time.Time // the answer's exp; zero when it had none
	until   time.Time // when it stops being reused, by now
}

// negative is a cached inactive or invalid answer.
type negative struct {
	err   error
	until time.Time // by now
}

// New checks cfg and returns an Introspector that turns active answers
// into T with convert: called once per answer, an error from it makes the
// answer invalid (cached as inactive ones are, ErrInvalid). New makes no
// network call and starts nothing; Start does the background work.
func New[T any](cfg Config, convert func(*Answer) (T, error)) (*Introspector[T], error) {
	if convert == nil {
		return nil, errors.New("introspection: no convert function")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("introspection: issuer is empty")
	}
	u, err := checkURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("introspection url: %w", err)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"timeout", &cfg.Timeout, DefaultTimeout},
		{"cache_ttl", &cfg.CacheTTL, DefaultCacheTTL},
		{"negative_ttl", &cfg.NegativeTTL, DefaultNegativeTTL},
		{"clock_skew", &cfg.ClockSkew, DefaultClockSkew},
	} {
		switch {
		case *d.v < 0:
			return nil, fmt.Errorf("introspection %s %s is negative", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	switch {
	case cfg.MaxConcurrent < 0:
		return nil, fmt.Errorf("introspection max_concurrent %d is negative", cfg.MaxConcurrent)
	case cfg.MaxConcurrent == 0:
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.CacheSize < 0 {
		return nil, fmt.Errorf("introspection cache size %d is negative", cfg.CacheSize)
	}
	if cfg.Transport == nil {
		// Its own, so that its idle connections can be closed without
		// touching anyone else's.
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	} else if t, ok := cfg.Transport.(*http.Transport); ok && t.TLSClientConfig != nil && t.TLSClientConfig.InsecureSkipVerify {
		return nil, errors.New("introspection: the transport skips TLS verification")
	}
	cfg.Audiences = slices.Clone(cfg.Audiences)
	in := &Introspector[T]{
		cfg:      cfg,
		endpoint: (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(),
		client: &http.Client{
			Transport: cfg.Transport,
			// An introspection endpoint does not redirect: the 3xx is
			// taken as the answer, and refused for its status.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		convert: convert,
		slots:   make(chan struct{}, cfg.MaxConcurrent),
		flights: make(map[[32]byte]*flight.Call[T]),
	}
	if negCap := cfg.CacheSize / 4; cfg.CacheSize > 0 {
		in.pos = ttlcache.New[positive[T]](cfg.CacheSize-negCap, cacheEviction)
		if negCap > 0 {
			in.neg = ttlcache.New[negative](negCap, cacheEviction)
		}
	}
	return in, nil
}

// Start drops expired cache entries in the background and closes idle
// connections when ctx ends. It makes no network call. Call it once.
func (in *Introspector[T]) Start(ctx context.Context) {
	if in.pos != nil {
		go in.pos.Run(ctx, janitorInterval)
	}
	if in.neg != nil {
		go in.neg.Run(ctx, janitorInterval)
	}
	go func() {
		<-ctx.Done()
		in.client.CloseIdleConnections()
	}()
}

// Flush empties the cache.
func (in *Introspector[T]) Flush() {
	if in.pos != nil {
		in.pos.Clear()
	}
	if in.neg != nil {
		in.neg.Clear()
	}
}

// Forget drops the answer cached for the token with this digest (a token
// revoked by its hash).
func (in *Introspector[T]) Forget(digest [32]byte) {
	if in.pos != nil {
		in.pos.Delete(string(digest[:]))
	}
	if in.neg != nil {
		in.neg.Delete(string(digest[:]))
	}
}

// Stats returns the cache sizes and the calls made.
func (in *Introspector[T]) Stats() Stats {
	s := Stats{Calls: make(map[string]int64, len(outcomes))}
	if in.pos != nil {
		s.Cached = in.pos.Len()
	}
	if in.neg != nil {
		s.Negative = in.neg.Len()
	}
	for i, o := range outcomes {
		s.Calls[o] = in.calls[i].Load()
	}
	return s
}

// Introspect validates an opaque token, whose digest is the SHA-256 of the
// whole token: from the cache, or with one call shared by every concurrent
// caller with the same digest. cached tells that the answer came from the
// cache. A caller waits until the call ends or ctx does; the call goes on
// while another caller waits for it, and ends (ErrUnavailable) when none
// does any more or after Timeout.
func (in *Introspector[T]) Introspect(ctx context.Context, token string, digest [32]byte) (value T, cached bool, err error) {
	if token == "" {
		return value, false, fmt.Errorf("%w: empty token", ErrInvalid)
	}
	if v, ok, err := in.lookup(digest); ok {
		return v, true, err
	}
	in.mu.Lock()
	f := in.flights[digest]
	if f == nil || !f.Live() { // none, or one that every caller left
		// A call that ended since the lookup has cached its answer before
		// leaving flights.
		if v, ok, err := in.lookup(digest); ok {
			in.mu.Unlock()
			return v, true, err
		}
		// Waiting for a slot and the call together take at most Timeout.
		f = flight.New[T](ctx, in.cfg.Timeout, &in.mu)
		in.flights[digest] = f
		f.Join()
		in.mu.Unlock()
		if ctx.Done() == nil {
			// A caller that never gives up waiting makes the call itself,
			// sparing a goroutine (and its stack's growth) a call; other
			// callers with this token wait for it as usual.
			in.run(f, token, digest)
		} else {
			go in.run(f, token, digest)
		}
	} else {
		f.Join()
		in.mu.Unlock()
	}
	value, err = f.Wait(ctx)
	if errors.Is(err, flight.ErrGaveUp) {
		err = fmt.Errorf("%w: the answer: %w", ErrUnavailable, err)
	}
	return value, false, err
}

// lookup returns the cached answer for digest, if there is one: the value
// of an active answer, ErrExpired when its exp has passed since, or the
// error of an inactive or invalid one.
func (in *Introspector[T]) lookup(digest [32]byte) (v T, ok bool, err error) {
	if in.pos == nil {
		return v, false, nil
	}
	n := now()
	if p, _, found := in.pos.Get(string(digest[:])); found {
		if !p.expires.IsZero() && n.After(p.expires.Add(in.cfg.ClockSkew)) {
			return v, true, expired(p.expires)
		}
		if n.Before(p.until) {
			return p.value, true, nil
		}
	}
	if in.neg != nil {
		if e, _, found := in.neg.Get(string(digest[:])); found && n.Before(e.until) {
			return v, true, e.err
		}
	}
	return v, false, nil
}

// expired is the error of an answer whose exp has passed.
func expired(exp time.Time) error {
	return fmt.Errorf("%w at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
}

// run makes the call f for token, caches its answer, and hands it to the
// callers waiting.
func (in *Introspector[T]) run(f *flight.Call[T], token string, digest [32]byte) {
	start := time.Now()
	body, err := in.call(f.Context(), token)
	var v T
	outcome := OutcomeError
	if err == nil {
		v, outcome, err = in.judge(body, digest)
	}
	in.mu.Lock()
	if in.flights[digest] == f {
		delete(in.flights, digest)
	}
	in.mu.Unlock()
	in.report(outcome, time.Since(start), err)
	f.Finish(v, err)
}

// judge reads an answer, checks it, converts an active one and caches the
// result (not an unavailable one).
func (in *Introspector[T]) judge(body []byte, digest [32]byte) (v T, outcome string, err error) {
	n := now()
	a, err := parseAnswer(body)
	if err == nil {
		err = in.check(a, n)
	}
	if err == nil {
		a.Digest = digest
		if v, err = in.convert(a); err != nil {
			err = fmt.Errorf("%w: the answer was not accepted: %w", ErrInvalid, err)
		}
	}
	switch {
	case err == nil:
		outcome = OutcomeActive
		in.cacheActive(digest, v, a.Expires, n)
	case errors.Is(err, ErrUnavailable):
		return v, OutcomeError, err
	case errors.Is(err, ErrInactive):
		outcome = OutcomeInactive
		in.cacheNegative(digest, err, n)
	default:
		outcome = OutcomeInvalid
		in.cacheNegative(digest, err, n)
	}
	return v, outcome, err
}

// check applies the issuer's rules to an active answer, as for a JWT's
// claims: iss, aud, nbf, iat, then exp.
func (in *Introspector[T]) check(a *Answer, n time.Time) error {
	skew := in.cfg.ClockSkew
	if _, ok := a.Claims["iss"]; ok && a.Issuer != in.cfg.Issuer {
		return fmt.Errorf("%w: iss %.64q is not the issuer's", ErrInvalid, a.Issuer)
	}
	if len(in.cfg.Audiences) > 0 && !slices.ContainsFunc(a.Audience, func(aud string) bool {
		return slices.Contains(in.cfg.Audiences, aud)
	}) {
		return fmt.Errorf("%w: aud does not name an accepted audience", ErrInvalid)
	}
	if !a.NotBefore.IsZero() && n.Add(skew).Before(a.NotBefore) {
		return fmt.Errorf("%w: not valid before %s (nbf)", ErrInvalid, a.NotBefore.UTC().Format(time.RFC3339))
	}
	if !a.IssuedAt.IsZero() && n.Add(skew).Before(a.IssuedAt) {
		return fmt.Errorf("%w: issued in the future (iat %s)", ErrInvalid, a.IssuedAt.UTC().Format(time.RFC3339))
	}
	if !a.Expires.IsZero() && n.After(a.Expires.Add(skew)) {
		return expired(a.Expires)
	}
	return nil
}

// cacheActive caches v until exp (with the skew), at most CacheTTL.
func (in *Introspector[T]) cacheActive(digest [32]byte, v T, exp, n time.Time) {
	if in.pos == nil {
		return
	}
	until := n.Add(in.cfg.CacheTTL)
	if !exp.IsZero() {
		until = minTime(until, exp.Add(in.cfg.ClockSkew))
	}
	key := string(digest[:])
	if in.neg != nil {
		in.neg.Delete(key)
	}
	// The cache's own expiry runs on the wall clock.
	in.pos.Set(key, positive[T]{value: v, expires: exp, until: until}, time.Now().Add(until.Sub(n)))
}

// cacheNegative caches err for NegativeTTL.
func (in *Introspector[T]) cacheNegative(digest [32]byte, err error, n time.Time) {
	if in.neg == nil {
		return
	}
	key := string(digest[:])
	in.pos.Delete(key)
	in.neg.Set(key, negative{err: err, until: n.Add(in.cfg.NegativeTTL)}, time.Now().Add(in.cfg.NegativeTTL))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// report counts a call and tells OnCall.
func (in *Introspector[T]) report(outcome string, d time.Duration, err error) {
	i := slices.Index(outcomes[:], outcome)
	in.calls[i].Add(1)
	if in.cfg.OnCall == nil {
		return
	}
	if outcome == OutcomeActive || outcome == OutcomeInactive {
		err = nil
	}
	in.cfg.OnCall(Call{Outcome: outcome, Duration: d, Err: err})
}
