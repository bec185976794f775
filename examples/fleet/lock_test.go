package fleet_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/examples/fleet/redisstorage"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// lockWait bounds a Lock expected to succeed, so that a broken lock fails
// the test instead of hanging it.
const lockWait = 10 * time.Second

// TestLockLeaseLost: a holder whose lease ends (the lock key gone, or no
// renewal possible for lock_ttl) learns it from RenewLockLease, and its
// Unlock neither succeeds nor deletes the lock another holder has taken.
func TestLockLeaseLost(t *testing.T) {
	const lock = "shared"
	for _, c := range []struct {
		name    string
		disrupt func(*redisServer)
		recover func(*redisServer) // nil: nothing to undo
		// keyGone: Redis has lost the lock when the lease is found lost, so
		// the second instance takes it at once. Otherwise renewals sent
		// before the lease could expire may reach Redis after, and it
		// takes the lock once they expire.
		keyGone bool
	}{
		{"redis-server restarted, empty", (*redisServer).restart, nil, true},
		{"redis-server down for longer than lock_ttl", (*redisServer).stop, (*redisServer).start, true},
		{
			"redis-server paused for longer than lock_ttl",
			func(r *redisServer) { r.signal(syscall.SIGSTOP) },
			func(r *redisServer) { r.signal(syscall.SIGCONT) },
			false,
		},
		{
			"the lock key expired while the holder stalled",
			func(r *redisServer) {
				if err := r.client.Del(context.Background(), "caddy:lock:"+lock).Err(); err != nil {
					r.t.Fatal(err)
				}
			},
			nil,
			true,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startRedis(t)
			ctx := context.Background()
			cfg := map[string]any{"address": srv.addr, "lock_ttl": "1s"}
			a, b := mustStorage(t, cfg), mustStorage(t, cfg)
			if err := a.Lock(ctx, lock); err != nil {
				t.Fatal(err)
			}
			if err := a.RenewLockLease(ctx, lock, 0); err != nil {
				t.Fatalf("RenewLockLease of a lock just taken: %v", err)
			}

			c.disrupt(srv)
			var lastErr error
			testkit.WaitFor(t, "the holder to find its lease lost", func() bool {
				lastErr = a.RenewLockLease(ctx, lock, 0)
				return errors.Is(lastErr, redisstorage.ErrLockLost)
			})
			t.Logf("lost: %v", lastErr)
			if c.recover != nil {
				c.recover(srv)
			}

			if c.keyGone {
				// Redis no longer has the lock: another instance takes it at once.
				if n, err := srv.client.Exists(ctx, "caddy:lock:"+lock).Result(); err != nil || n != 0 {
					t.Fatalf("the lock key is still in Redis: %d %v", n, err)
				}
			}
			lctx, cancel := context.WithTimeout(ctx, lockWait)
			defer cancel()
			if err := b.Lock(lctx, lock); err != nil {
				t.Fatalf("the second instance: %v", err)
			}
			token, err := srv.client.Get(ctx, "caddy:lock:"+lock).Result()
			if err != nil {
				t.Fatal(err)
			}

			// The first holder knows it no longer holds the lock.
			if err := a.RenewLockLease(ctx, lock, 0); !errors.Is(err, redisstorage.ErrLockLost) {
				t.Fatalf("RenewLockLease of the lost lock: %v, want ErrLockLost", err)
			}
			if err := a.Unlock(ctx, lock); !errors.Is(err, redisstorage.ErrLockLost) {
				t.Fatalf("Unlock of the lost lock: %v, want ErrLockLost", err)
			}
			if got, err := srv.client.Get(ctx, "caddy:lock:"+lock).Result(); err != nil || got != token {
				t.Fatalf("after the first holder's Unlock the lock holds %q (%v), want the second holder's %q", got, err, token)
			}
			if err := b.RenewLockLease(ctx, lock, 0); err != nil {
				t.Fatalf("the second holder's RenewLockLease: %v", err)
			}
			if err := b.Unlock(ctx, lock); err != nil {
				t.Fatalf("the second holder's Unlock: %v", err)
			}
			if n, _ := srv.client.Exists(ctx, "caddy:lock:"+lock).Result(); n != 0 {
				t.Fatal("the lock is still in Redis after Unlock")
			}
			// The first instance can take it again.
			if err := a.Lock(lctx, lock); err != nil {
				t.Fatal(err)
			}
			if err := a.Unlock(ctx, lock); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLockLeaseRenewed: a lease is kept while Redis runs, for longer than
// lock_ttl, and RenewLockLease makes it last the duration asked.
func TestLockLeaseRenewed(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	s := mustStorage(t, map[string]any{"address": srv.addr, "lock_ttl": "300ms"})
	if err := s.Lock(ctx, "long"); err != nil {
		t.Fatal(err)
	}
	// Redis keeps the lock past lock_ttl while its holder renews it: its
	// expiry moves later five times (every lock_ttl/3).
	var renewals int
	last := time.Duration(-1)
	testkit.WaitFor(t, "five renewals of the lock", func() bool {
		ttl, err := srv.client.PTTL(ctx, "caddy:lock:long").Result()
		if err != nil || ttl <= 0 {
			t.Fatalf("the lock is gone from Redis after %d renewals: %v %v", renewals, ttl, err)
		}
		if last >= 0 && ttl > last {
			renewals++
		}
		last = ttl
		return renewals >= 5
	})
	if err := s.RenewLockLease(ctx, "long", time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl, err := srv.client.PTTL(ctx, "caddy:lock:long").Result(); err != nil || ttl < 50*time.Minute {
		t.Fatalf("after RenewLockLease(1h) the lock expires in %v (%v)", ttl, err)
	}
	if err := s.Unlock(ctx, "long"); err != nil {
		t.Fatal(err)
	}
}

// TestLockNotHeld: renewing or releasing a lock this storage did not
// take is an error, and a lost lease keeps the lock from this storage's
// other callers until its holder calls Unlock.
func TestLockNotHeld(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	a := mustStorage(t, map[string]any{"address": srv.addr, "lock_ttl": "1s"})
	b := mustStorage(t, map[string]any{"address": srv.addr, "lock_ttl": "1s"})
	if err := a.RenewLockLease(ctx, "never", 0); !errors.Is(err, redisstorage.ErrLockNotHeld) {
		t.Fatalf("RenewLockLease of a lock never taken: %v", err)
	}
	if err := a.Unlock(ctx, "never"); !errors.Is(err, redisstorage.ErrLockNotHeld) {
		t.Fatalf("Unlock of a lock never taken: %v", err)
	}
	if err := b.Lock(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx, "other"); !errors.Is(err, redisstorage.ErrLockNotHeld) {
		t.Fatalf("Unlock of another storage's lock: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := a.Lock(short, "other"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a lock held elsewhere: %v, want to wait until the deadline", err)
	}
	if err := b.Unlock(ctx, "other"); err != nil {
		t.Fatal(err)
	}

	// a loses its lease: its other callers wait until it calls Unlock.
	if err := a.Lock(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	if err := srv.client.Del(ctx, "caddy:lock:mine").Err(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the lease to be found lost", func() bool {
		return errors.Is(a.RenewLockLease(ctx, "mine", 0), redisstorage.ErrLockLost)
	})
	short, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := a.Lock(short, "mine"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock beside a lost lease not unlocked yet: %v, want to wait", err)
	}
	if err := a.Unlock(ctx, "mine"); !errors.Is(err, redisstorage.ErrLockLost) {
		t.Fatalf("Unlock of the lost lease: %v", err)
	}
	if err := a.Lock(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
}
