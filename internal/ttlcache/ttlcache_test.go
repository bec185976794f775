package ttlcache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCapacityAndSoonestEviction(t *testing.T) {
	tests := []struct {
		name        string
		capacity    int
		factor      float64
		inserts     int
		wantEvicted int // per eviction round
	}{
		{"quarter of ten", 10, 0.25, 11, 3},
		{"tiny factor still evicts one", 5, 0.001, 6, 1},
		{"factor above one capped at capacity", 4, 2, 5, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New[int](tc.capacity, tc.factor)
			base := time.Now().Add(time.Hour)
			// Entry i expires at base + i minutes, inserted in reverse so
			// insertion order is not expiry order.
			for i := tc.capacity - 1; i >= 0; i-- {
				c.Set(fmt.Sprint(i), i, base.Add(time.Duration(i)*time.Minute))
			}
			if c.Len() != tc.capacity {
				t.Fatalf("len %d, want %d", c.Len(), tc.capacity)
			}
			c.Set("late", -1, base.Add(24*time.Hour))
			if c.Len() > tc.capacity {
				t.Fatalf("len %d above capacity %d", c.Len(), tc.capacity)
			}
			for i := 0; i < tc.capacity; i++ {
				_, _, ok := c.Get(fmt.Sprint(i))
				if evicted := i < tc.wantEvicted; ok == evicted {
					t.Errorf("entry %d present=%v, want evicted=%v", i, ok, evicted)
				}
			}
			if _, _, ok := c.Get("late"); !ok {
				t.Error("the new entry is missing")
			}
		})
	}
}

// TestEvictionSkipsStaleRecords checks that entries stored again or
// deleted since they were indexed are judged by their current expiry: with
// capacity 4 and one entry evicted per round, a then b then c then d expire
// in that order before the changes.
func TestEvictionSkipsStaleRecords(t *testing.T) {
	tests := []struct {
		name        string
		change      func(c *Cache[int], base time.Time)
		wantEvicted string
		wantKept    []string
	}{
		{"no change", func(*Cache[int], time.Time) {}, "a", []string{"b", "c", "d", "e"}},
		{"a stored again, later", func(c *Cache[int], base time.Time) {
			c.Set("a", 1, base.Add(10*time.Hour))
		}, "b", []string{"a", "c", "d", "e"}},
		{"a deleted and stored again, later", func(c *Cache[int], base time.Time) {
			c.Delete("a")
			c.Set("a", 1, base.Add(10*time.Hour))
		}, "b", []string{"a", "c", "d", "e"}},
		{"d stored again, sooner", func(c *Cache[int], base time.Time) {
			c.Set("d", 1, base.Add(-30*time.Minute))
		}, "d", []string{"a", "b", "c", "e"}},
		{"a deleted", func(c *Cache[int], _ time.Time) { c.Delete("a") }, "", []string{"b", "c", "d", "e"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New[int](4, 0.25)
			base := time.Now().Add(time.Hour)
			for _, k := range []string{"c", "a", "d", "b"} { // not in expiry order
				c.Set(k, 0, base.Add(time.Duration(k[0]-'a')*time.Minute))
			}
			tc.change(c, base)
			c.Set("e", 0, base.Add(5*time.Hour))
			if c.Len() > 4 {
				t.Fatalf("len %d above capacity", c.Len())
			}
			if _, _, ok := c.Get(tc.wantEvicted); tc.wantEvicted != "" && ok {
				t.Errorf("%s kept, want it evicted", tc.wantEvicted)
			}
			for _, k := range tc.wantKept {
				if _, _, ok := c.Get(k); !ok {
					t.Errorf("%s evicted, want it kept", k)
				}
			}
		})
	}
}

// TestIndexStaysBounded checks that deletes and overwrites, which leave
// stale records in the expiry index, do not make it grow without bound.
func TestIndexStaysBounded(t *testing.T) {
	c := New[int](10, 0.25)
	exp := time.Now().Add(time.Hour)
	for i := 0; i < 10000; i++ {
		k := fmt.Sprint(i % 7)
		c.Set(k, i, exp.Add(time.Duration(i)*time.Second))
		if i%3 == 0 {
			c.Delete(k)
		}
		c.setMu.Lock()
		n := len(c.byExpiry)
		c.setMu.Unlock()
		if n > 2*10+64+1 {
			t.Fatalf("after %d sets the index holds %d records", i+1, n)
		}
	}
}

// TestExpiredEntriesGoFirst checks that a full cache drops its expired
// entries before any live one.
func TestExpiredEntriesGoFirst(t *testing.T) {
	c := New[int](4, 0.25)
	c.Set("short", 0, time.Now().Add(time.Millisecond))
	for _, k := range []string{"a", "b", "c"} {
		c.Set(k, 0, time.Now().Add(time.Hour))
	}
	time.Sleep(5 * time.Millisecond) // "short" expires
	c.Set("d", 0, time.Now().Add(2*time.Hour))
	for _, k := range []string{"a", "b", "c", "d"} {
		if _, _, ok := c.Get(k); !ok {
			t.Errorf("%s evicted; only the expired entry had to go", k)
		}
	}
	if c.Len() != 4 {
		t.Fatalf("len %d, want 4", c.Len())
	}
}

func TestExpiryHeapOrder(t *testing.T) {
	tests := []struct {
		name string
		exps []int64
	}{
		{"empty", nil},
		{"one", []int64{5}},
		{"ascending", []int64{1, 2, 3, 4, 5, 6, 7}},
		{"descending", []int64{9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"mixed with ties", []int64{5, 1, 5, 3, 9, 0, 3, 7, 2, 2, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pushed, built expiryHeap
			for i, e := range tc.exps {
				pushed.push(expiryRecord{exp: e, key: fmt.Sprint(i)})
				built = append(built, expiryRecord{exp: e, key: fmt.Sprint(i)})
			}
			built.init()
			for _, h := range []*expiryHeap{&pushed, &built} {
				var got []int64
				for len(*h) > 0 {
					got = append(got, h.pop().exp)
				}
				if len(got) != len(tc.exps) || !slices.IsSorted(got) {
					t.Fatalf("popped %v from %v", got, tc.exps)
				}
			}
		})
	}
}

func TestNeverAboveCapacityConcurrently(t *testing.T) {
	c := New[int](100, 0.1)
	var wg sync.WaitGroup
	var over atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				c.Set(fmt.Sprintf("%d-%d", g, i), i, time.Now().Add(time.Duration(i+1)*time.Second))
				if c.Len() > 100 {
					over.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	if over.Load() > 0 || c.Len() > 100 {
		t.Fatalf("above capacity %d times; len %d", over.Load(), c.Len())
	}
}

func TestGetOrLoad(t *testing.T) {
	c := New[string](10, 0.25)
	var loads atomic.Int64
	release := make(chan struct{})
	load := func() (string, time.Time, error) {
		loads.Add(1)
		<-release
		return "v", time.Now().Add(time.Minute), nil
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if v, _, err := c.GetOrLoad("k", nil, load); err != nil || v != "v" {
				t.Errorf("got %q %v", v, err)
			}
		}()
	}
	close(start)
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("64 concurrent misses loaded %d times", n)
	}
	if _, hit, _ := c.GetOrLoad("k", nil, load); !hit {
		t.Fatal("second call missed")
	}
	// An entry that is not fresh any more is loaded again.
	stale := func(time.Time) bool { return false }
	if _, hit, _ := c.GetOrLoad("k", stale, load); hit || loads.Load() != 2 {
		t.Fatalf("stale entry: hit=%v loads=%d", hit, loads.Load())
	}
	// Errors are returned and nothing is stored.
	boom := errors.New("boom")
	if _, _, err := c.GetOrLoad("e", nil, func() (string, time.Time, error) { return "", time.Time{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if _, _, ok := c.Get("e"); ok {
		t.Fatal("a failed load was stored")
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name      string
		stored    bool // a value was stored between the caller's Get and Load
		fresh     func(time.Time) bool
		wantValue string
		wantLoads int
	}{
		{"nothing stored", false, nil, "loaded", 1},
		{"stored meanwhile", true, nil, "stored", 0},
		{"stored meanwhile but not fresh", true, func(time.Time) bool { return false }, "loaded", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New[string](10, 0.25)
			if tc.stored {
				c.Set("k", "stored", time.Now().Add(time.Minute))
			}
			loads := 0
			v, err := c.Load("k", tc.fresh, func() (string, time.Time, error) {
				loads++
				return "loaded", time.Now().Add(time.Minute), nil
			})
			if err != nil || v != tc.wantValue || loads != tc.wantLoads {
				t.Fatalf("got %q, %v after %d loads; want %q after %d", v, err, loads, tc.wantValue, tc.wantLoads)
			}
			if got, _, _ := c.Get("k"); got != tc.wantValue {
				t.Fatalf("stored %q, want %q", got, tc.wantValue)
			}
		})
	}
}

func TestExpiryAndRun(t *testing.T) {
	c := New[int](10, 0.25)
	c.Set("past", 1, time.Now().Add(-time.Second))
	if _, _, ok := c.Get("past"); ok || c.Len() != 0 {
		t.Fatal("an already expired value was stored")
	}
	c.Set("soon", 1, time.Now().Add(30*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, 10*time.Millisecond); close(done) }()
	deadline := time.Now().Add(2 * time.Second)
	for c.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the janitor did not remove the expired entry")
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := runtime.NumGoroutine()
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatalf("Run did not return on cancel (goroutines %d)", before)
	}
}

// BenchmarkSetFull measures Set of new keys into a full cache of 10,000
// entries evicting a quarter at a time, the all-miss load on the
// validated-token and generated-token caches; the eviction's cost is spread
// over the inserts between two evictions.
func BenchmarkSetFull(b *testing.B) {
	const capacity = 10000
	c := New[int](capacity, 0.25)
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
	}
	base := time.Now().Add(time.Hour)
	for i := 0; i < capacity; i++ {
		c.Set(keys[i], i, base.Add(time.Duration(i)*time.Millisecond))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := capacity; i < capacity+b.N; i++ {
		c.Set(keys[i%len(keys)], i, base.Add(time.Duration(i)*time.Millisecond))
	}
	b.StopTimer()
	if c.Len() > capacity {
		b.Fatalf("len %d above capacity", c.Len())
	}
}

// BenchmarkGetHit measures a lookup that hits.
func BenchmarkGetHit(b *testing.B) {
	c := New[int](10000, 0.25)
	c.Set("k", 1, time.Now().Add(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := c.Get("k"); !ok {
			b.Fatal("miss")
		}
	}
}
