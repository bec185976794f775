package ttlcache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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
