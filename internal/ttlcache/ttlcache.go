// Package ttlcache is a capacity-bounded cache, built on go-cache, whose
// entries each expire at their own time. When it is full it drops the share
// of entries that expire soonest before adding a new one, and concurrent
// misses for one key load the value once.
//
// go-cache's own janitor goroutine cannot be stopped, so a Cache is created
// without one; Run removes expired entries until its context is cancelled.
package ttlcache

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"golang.org/x/sync/singleflight"
)

// Cache holds values of type V under string keys, each until its own
// expiry time. The zero value is not usable; call New.
type Cache[V any] struct {
	items    *gocache.Cache
	capacity int
	evictN   int

	setMu  sync.Mutex // serialises the capacity check with the insert
	flight singleflight.Group
}

// New returns a cache that holds at most capacity entries. When it is full,
// the evictionFactor share of capacity (at least one entry) that expires
// soonest is dropped before a new entry is added. capacity must be positive.
func New[V any](capacity int, evictionFactor float64) *Cache[V] {
	n := int(math.Ceil(float64(capacity) * evictionFactor))
	if n < 1 {
		n = 1
	}
	if n > capacity {
		n = capacity
	}
	return &Cache[V]{
		items:    gocache.New(gocache.NoExpiration, 0),
		capacity: capacity,
		evictN:   n,
	}
}

// Get returns the value under key and the time it expires, if it is present
// and has not expired.
func (c *Cache[V]) Get(key string) (v V, expires time.Time, ok bool) {
	x, exp, found := c.items.GetWithExpiration(key)
	if !found {
		return v, time.Time{}, false
	}
	return x.(V), exp, true
}

// Set stores v under key until expires, making room first when the cache is
// full. A value whose expiry has already passed is not stored.
func (c *Cache[V]) Set(key string, v V, expires time.Time) {
	d := time.Until(expires)
	if d <= 0 {
		return
	}
	c.setMu.Lock()
	defer c.setMu.Unlock()
	if _, found := c.items.Get(key); !found && c.items.ItemCount() >= c.capacity {
		c.evictSoonest()
	}
	c.items.Set(key, v, d)
}

// evictSoonest drops the evictN entries that expire soonest, and every
// expired one. The caller holds setMu.
func (c *Cache[V]) evictSoonest() {
	c.items.DeleteExpired()
	items := c.items.Items()
	if len(items) < c.capacity {
		return
	}
	type keyExp struct {
		key string
		exp int64
	}
	all := make([]keyExp, 0, len(items))
	for k, it := range items {
		all = append(all, keyExp{k, it.Expiration})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].exp < all[j].exp })
	for _, ke := range all[:c.evictN] {
		c.items.Delete(ke.key)
	}
}

// GetOrLoad returns the value under key when it is present and fresh reports
// true for its expiry (nil fresh accepts any unexpired entry). Otherwise it
// calls load, once for all concurrent callers of the same key, stores the
// value until the expiry load returns, and returns it. hit tells whether the
// value came from the cache without this caller waiting on a load.
func (c *Cache[V]) GetOrLoad(key string, fresh func(expires time.Time) bool, load func() (V, time.Time, error)) (v V, hit bool, err error) {
	if v, exp, ok := c.Get(key); ok && (fresh == nil || fresh(exp)) {
		return v, true, nil
	}
	x, err, _ := c.flight.Do(key, func() (any, error) {
		// A load that finished between our Get and Do has stored the value.
		if v, exp, ok := c.Get(key); ok && (fresh == nil || fresh(exp)) {
			return v, nil
		}
		v, exp, err := load()
		if err != nil {
			return v, err
		}
		c.Set(key, v, exp)
		return v, nil
	})
	if err != nil {
		var zero V
		return zero, false, err
	}
	return x.(V), false, nil
}

// Delete removes the entry under key.
func (c *Cache[V]) Delete(key string) { c.items.Delete(key) }

// Len returns the number of entries held, expired ones not yet removed
// included.
func (c *Cache[V]) Len() int { return c.items.ItemCount() }

// Run removes expired entries every interval until ctx is done. It blocks;
// start it with go.
func (c *Cache[V]) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.items.DeleteExpired()
		}
	}
}
