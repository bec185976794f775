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
	items    *gocache.Cache // of entry[V]
	capacity int
	evictN   int

	setMu sync.Mutex // serialises the capacity check with the insert; guards seq and byExpiry
	seq   uint64     // of the last entry stored
	// byExpiry indexes the entries by expiry, so that a full cache finds
	// the soonest-expiring ones without copying and sorting them all. Every
	// entry has a record with its seq; a Delete, an overwrite or the
	// janitor leaves a stale record behind, told apart by its seq and
	// dropped when it reaches the top (see dropTop).
	byExpiry expiryHeap
	flight   singleflight.Group
}

// entry is a value as stored, with the seq of the Set that stored it.
type entry[V any] struct {
	v   V
	seq uint64
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
	return x.(entry[V]).v, exp, true
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
	if c.items.ItemCount() >= c.capacity {
		if _, found := c.items.Get(key); !found {
			c.evictSoonest()
		}
	}
	c.seq++
	c.items.Set(key, entry[V]{v: v, seq: c.seq}, d)
	c.byExpiry.push(expiryRecord{exp: expires.UnixNano(), seq: c.seq, key: key})
	if len(c.byExpiry) > 2*c.capacity+64 {
		c.reindex() // too many stale records
	}
}

// evictSoonest drops every expired entry and, if the cache is still full,
// the evictN entries that expire soonest. The caller holds setMu.
func (c *Cache[V]) evictSoonest() {
	now := time.Now().UnixNano()
	for len(c.byExpiry) > 0 && c.byExpiry[0].exp <= now {
		c.dropTop()
	}
	if c.items.ItemCount() < c.capacity {
		return
	}
	for dropped := 0; dropped < c.evictN && len(c.byExpiry) > 0; {
		if c.dropTop() {
			dropped++
		}
	}
	if c.items.ItemCount() >= c.capacity {
		// Not reached while every entry has its record; kept so that the
		// capacity holds whatever happens to the index.
		c.evictBySorting()
	}
}

// dropTop removes the soonest-expiring record, and its entry unless the
// record is stale; it reports whether a live entry was removed. The caller
// holds setMu.
func (c *Cache[V]) dropTop() bool {
	r := c.byExpiry.pop()
	x, found := c.items.Get(r.key)
	switch {
	case !found: // deleted, or expired: drop what is left of it
		c.items.Delete(r.key)
		return false
	case x.(entry[V]).seq != r.seq: // stored again since: a stale record
		return false
	}
	c.items.Delete(r.key)
	return true
}

// evictBySorting drops every expired entry and, if the cache is still
// full, the evictN entries that expire soonest, found by sorting them all;
// then it indexes the rest anew. The caller holds setMu.
func (c *Cache[V]) evictBySorting() {
	c.items.DeleteExpired()
	items := c.items.Items()
	if len(items) >= c.capacity {
		all := make([]expiryRecord, 0, len(items))
		for k, it := range items {
			all = append(all, expiryRecord{exp: it.Expiration, key: k})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].exp < all[j].exp })
		for _, r := range all[:c.evictN] {
			c.items.Delete(r.key)
		}
	}
	c.reindex()
}

// reindex rebuilds byExpiry from the entries, dropping stale records. The
// caller holds setMu.
func (c *Cache[V]) reindex() {
	items := c.items.Items()
	h := c.byExpiry[:0]
	if cap(h) > 4*len(items)+64 {
		h = make(expiryHeap, 0, len(items))
	}
	for k, it := range items {
		h = append(h, expiryRecord{exp: it.Expiration, seq: it.Object.(entry[V]).seq, key: k})
	}
	clear(h[len(h):cap(h)]) // no references kept to dropped keys
	h.init()
	c.byExpiry = h
}

// pruneExpired drops the records of expired entries, and the entries if
// they are still there.
func (c *Cache[V]) pruneExpired() {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	now := time.Now().UnixNano()
	for len(c.byExpiry) > 0 && c.byExpiry[0].exp <= now {
		c.dropTop()
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
	v, err = c.Load(key, fresh, load)
	return v, false, err
}

// Load is GetOrLoad for a caller that has just missed with Get: it calls
// load, once for all concurrent callers of the same key, unless a load that
// finished meanwhile has stored a value that fresh accepts, and returns the
// value stored.
func (c *Cache[V]) Load(key string, fresh func(expires time.Time) bool, load func() (V, time.Time, error)) (V, error) {
	x, err, _ := c.flight.Do(key, func() (any, error) {
		// A load that finished between the caller's Get and Do has stored
		// the value.
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
		return zero, err
	}
	return x.(V), nil
}

// Delete removes the entry under key.
func (c *Cache[V]) Delete(key string) { c.items.Delete(key) }

// Clear drops every entry.
func (c *Cache[V]) Clear() {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	c.items.Flush()
	c.byExpiry = c.byExpiry[:0]
}

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
			c.pruneExpired()
		}
	}
}
