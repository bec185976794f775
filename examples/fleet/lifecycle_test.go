package fleet_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/examples/fleet/redisstorage"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// TestReloadKeepsRedisConnections reloads a config using fleet_redis
// through the admin API, the storage's config changed each time: Redis
// does not see more connections after the reloads than after the first
// load, and none of Caddy's once it stops.
func TestReloadKeepsRedisConnections(t *testing.T) {
	f := newFleet(t, "")
	before := f.srv.connectedClients() // the test's own
	storage := func(i int) string {
		return fmt.Sprintf("fleet_redis {\n\t\taddress %s\n\t\tlock_ttl %dms\n\t}", f.srv.addr, 2000+i)
	}
	f.a.StorageModule = storage(0)
	f.a.Start(f.site)
	tok := testkit.AccessToken(t, issuer, nil)
	f.backendJWT(t, f.a, tok)
	first := f.srv.connectedClients()

	const reloads, slack = 20, 2
	for i := 1; i <= reloads; i++ {
		f.a.StorageModule = storage(i)
		cfg, err := testcaddy.Adapt(f.a.Caddyfile(f.site))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.a.Load("application/json", cfg); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		f.backendJWT(t, f.a, tok)
	}
	var now int
	testkit.WaitFor(t, fmt.Sprintf("at most %d+%d Redis clients after %d reloads", first, slack, reloads), func() bool {
		now = f.srv.connectedClients()
		return now <= first+slack
	})
	t.Logf("Redis clients: %d before Caddy, %d after its first load, %d after %d reloads", before, first, now, reloads)

	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, fmt.Sprintf("Caddy's Redis connections to close (%d clients before it started)", before), func() bool {
		now = f.srv.connectedClients()
		return now <= before
	})
}

// TestLockTTLChecked: a JSON config's lock_ttl is checked when the
// storage is provisioned, as the Caddyfile's is when parsed.
func TestLockTTLChecked(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		lockTTL any // JSON value; nil: unset
		want    time.Duration
		wantErr bool
	}{
		{name: "-1ns", lockTTL: -1, wantErr: true},
		{name: "-5s", lockTTL: "-5s", wantErr: true},
		{name: "1ms", lockTTL: "1ms", wantErr: true},
		{name: "99ms", lockTTL: "99ms", wantErr: true},
		{name: "0 is the default", lockTTL: 0, want: redisstorage.DefaultLockTTL},
		{name: "unset is the default", want: redisstorage.DefaultLockTTL},
		{name: "100ms", lockTTL: "100ms", want: 100 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := map[string]any{"address": srv.addr}
			if c.lockTTL != nil {
				cfg["lock_ttl"] = c.lockTTL
			}
			s, err := provisionStorage(t, cfg)
			if c.wantErr {
				if err == nil || !strings.Contains(err.Error(), "lock_ttl") {
					t.Fatalf("lock_ttl %v: %v, want an error naming lock_ttl", c.lockTTL, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(s.LockTTL); got != c.want {
				t.Fatalf("lock_ttl %v, want %v", got, c.want)
			}
			if err := s.Lock(ctx, "ttl"); err != nil {
				t.Fatal(err)
			}
			if err := s.RenewLockLease(ctx, "ttl", 0); err != nil {
				t.Fatal(err)
			}
			if err := s.Unlock(ctx, "ttl"); err != nil {
				t.Fatal(err)
			}
		})
	}

	// A whole config is refused before anything of it runs.
	t.Cleanup(func() { _ = caddy.Stop() })
	cfg := fmt.Sprintf(`{"admin": {"disabled": true}, "storage": {"module": "fleet_redis", "address": %q, "lock_ttl": -1}}`, srv.addr)
	if err := caddy.Load([]byte(cfg), true); err == nil || !strings.Contains(err.Error(), "lock_ttl") {
		t.Fatalf("loading a config with lock_ttl -1: %v, want an error naming lock_ttl", err)
	}
}
