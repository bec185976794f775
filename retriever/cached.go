package retriever

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/flight"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/ttlcache"
)

// Defaults of Cached.
const (
	// DefaultCacheCapacity is the number of users kept when NewCached is
	// given no positive capacity.
	DefaultCacheCapacity = 10000

	// CacheEvictionFactor is the share of the capacity, the entries that
	// expire soonest, dropped when a full cache takes a new user.
	CacheEvictionFactor = 0.25
)

// Cached wraps any Retriever with a per-issuer-and-user claims cache, the
// WSO2 JWTClaimCacheExpiry cache. It is safe for concurrent use.
//
// Claims are kept for the expiry given to NewCached, at most capacity
// users; when full, the quarter (CacheEvictionFactor) that expires soonest
// is dropped. Concurrent misses for one issuer and user call the retriever
// once and share its answer (single flight).
//
// Errors are not cached, ErrUserNotFound included: the next request asks
// again, so a user created in the key manager gets claims at once, at the
// price of one call per request for a user the key manager does not know.
//
// The returned claims maps are shared between callers and with the cache:
// they must not be modified.
type Cached struct {
	r      Retriever
	expiry time.Duration
	cache  *ttlcache.Cache[map[string]any]

	mu    sync.Mutex
	calls map[string]*load // the loads under way, by cache key
}

// load is one load of a user's claims, shared by every caller waiting on
// it.
type load = flight.Call[map[string]any]

// NewCached returns r behind a claims cache that keeps a user's claims for
// expiry and holds at most capacity users. An expiry of 0 or less keeps
// nothing (concurrent misses still share one call); a capacity of 0 or less
// means DefaultCacheCapacity. r must not be nil.
func NewCached(r Retriever, expiry time.Duration, capacity int) *Cached {
	if r == nil {
		panic("retriever.NewCached: nil Retriever")
	}
	if capacity <= 0 {
		capacity = DefaultCacheCapacity
	}
	return &Cached{
		r:      r,
		expiry: expiry,
		cache:  ttlcache.New[map[string]any](capacity, CacheEvictionFactor),
		calls:  make(map[string]*load),
	}
}

// cacheKey is the issuer and the user name, unambiguously separated: the
// issuer is prefixed by its length.
func cacheKey(issuer, user string) string {
	return strconv.Itoa(len(issuer)) + ":" + issuer + user
}

// Retrieve returns the claims of req's user for req's issuer: from the
// cache (hit is true) or from the wrapped retriever. The user is
// req.Username, or Username(req.Subject) when that is empty.
//
// Every caller waits for at most its own ctx: one that gives up gets an
// error wrapping ErrUnavailable and ctx's error, while the shared call goes
// on for the others. The call runs with ctx's values but not its deadline
// or cancellation; it is cancelled once every caller waiting on it has
// given up. The wrapped retriever bounds it (the WSO2 retriever by its
// timeout), so callers with an unbounded ctx wait no longer than that.
//
// The retriever's errors are returned as they are and are not cached.
func (c *Cached) Retrieve(ctx context.Context, req *Request) (claims map[string]any, hit bool, err error) {
	if req == nil {
		return nil, false, errNilRequest
	}
	user := req.user()
	key := cacheKey(req.Issuer, user)
	if v, _, ok := c.cache.Get(key); ok {
		return v, true, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("%w: claims of %.64q not asked for: %w", ErrUnavailable, user, err)
	}

	c.mu.Lock()
	l := c.calls[key]
	if l == nil || !l.Live() { // none, or one that every caller left
		// A load that finished between the Get above and the Lock has
		// stored its claims before it left c.calls.
		if v, _, ok := c.cache.Get(key); ok {
			c.mu.Unlock()
			return v, true, nil
		}
		l = flight.New[map[string]any](ctx, 0, &c.mu)
		c.calls[key] = l
		r := *req // the caller may reuse req once it has stopped waiting
		r.Username = user
		go c.load(key, &r, l)
	}
	l.Join()
	c.mu.Unlock()
	claims, err = l.Wait(ctx)
	if errors.Is(err, flight.ErrGaveUp) {
		return nil, false, fmt.Errorf("%w: the claims of %.64q: %w", ErrUnavailable, user, err)
	}
	return claims, false, err
}

// load calls the retriever for l, caches a success, and hands the result
// to the waiting callers.
func (c *Cached) load(key string, req *Request, l *load) {
	claims, err := c.retrieve(l.Context(), req)
	if err == nil && c.expiry > 0 {
		c.cache.Set(key, claims, time.Now().Add(c.expiry))
	}
	c.mu.Lock()
	if c.calls[key] == l {
		delete(c.calls, key)
	}
	c.mu.Unlock()
	l.Finish(claims, err)
}

// errPanicked is the cause when the wrapped retriever panicked.
var errPanicked = errors.New("the retriever panicked")

// retrieve calls the wrapped retriever, turning a panic into an error: it
// runs on its own goroutine, where a panic would end the process.
func (c *Cached) retrieve(ctx context.Context, req *Request) (claims map[string]any, err error) {
	defer func() {
		if p := recover(); p != nil {
			claims, err = nil, fmt.Errorf("%w: %w: %v", ErrUnavailable, errPanicked, p)
		}
	}()
	return c.r.Retrieve(ctx, req)
}

// Run removes expired entries until ctx is done. It blocks; start it with
// go.
func (c *Cached) Run(ctx context.Context) {
	interval := c.expiry
	interval = max(interval, time.Second)
	interval = min(interval, time.Minute)
	c.cache.Run(ctx, interval)
}

// Clear drops every user's cached claims.
func (c *Cached) Clear() { c.cache.Clear() }

// Len returns the number of users whose claims are held, expired ones not
// yet removed included.
func (c *Cached) Len() int { return c.cache.Len() }
