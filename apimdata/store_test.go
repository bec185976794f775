package apimdata_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/apimdata"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
)

// waitUntil polls cond, a state the test cannot be told of, until it holds;
// the test fails if it does not before the test's deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline, bounded := t.Deadline()
	for !cond() {
		if bounded && time.Until(deadline) < 2*time.Second {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// keyQuery is the targeted read of a consumer key, as the fake counts it.
func keyQuery(key string) string { return "/application-key-mappings?consumerKey=" + key }

// addApplication creates in API Manager an application id with the
// consumer key key, subscribed to the fixture's API.
func addApplication(fake *apimfake.Server, id int, key string) {
	fake.Update(func(d *apimfake.Data) {
		d.Applications = append(d.Applications, apimfake.Application(id, fmt.Sprintf("App%d", id), "alice", "10PerMin"))
		d.KeyMappings = append(d.KeyMappings, apimfake.KeyMapping(id, key, "PRODUCTION", "Resident Key Manager"))
		d.Subscriptions = append(d.Subscriptions, apimfake.Subscription(100+id, 7, id, "Bronze", "UNBLOCKED"))
	})
}

// hold holds the fake's reads until the test ends or release is called.
func hold(t *testing.T, fake *apimfake.Server) (release func()) {
	release = fake.Hold()
	t.Cleanup(release)
	return release
}

// async runs f in a goroutine; its error arrives on the channel.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// TestNoLockAcrossReads: while one read hangs in API Manager, another read
// reaches it, and a request with a known key is answered at once.
func TestNoLockAcrossReads(t *testing.T) {
	checkKey := func(key string) func(e *env) error {
		return func(e *env) error {
			_, err := e.store.Check(context.Background(), key, apiName, apiVersion)
			return err
		}
	}
	reload := func(e *env) error { return e.store.Reload(context.Background()) }
	for _, tc := range []struct {
		name          string
		first, second func(e *env) error
		reads         [2]int // reads hanging after the first, after the second
	}{
		{"a key's read, then another key's", checkKey("keyA"), checkKey("keyB"), [2]int{1, 2}},
		{"a key's read, then a full read", checkKey("keyA"), reload, [2]int{1, 6}},
		{"a full read, then a key's read", reload, checkKey("keyA"), [2]int{5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fixture("UNBLOCKED"), "")
			e.reload(t)
			release := hold(t, e.fake)
			first := async(func() error { return tc.first(e) })
			waitUntil(t, "the first read to reach API Manager", func() bool { return e.fake.Waiting() == tc.reads[0] })
			second := async(func() error { return tc.second(e) })
			waitUntil(t, "the second read to reach API Manager", func() bool { return e.fake.Waiting() == tc.reads[1] })
			if r := e.check(t, "prodKey", apiName, apiVersion); r.Outcome != apimdata.Pass {
				t.Fatalf("a known key while reads hang: %v", r.Outcome)
			}
			release()
			for _, ch := range []<-chan error{first, second} {
				if err := <-ch; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestReloadsShareOneRead: the Run loop and an admin refresh asking at
// once make one full read; a caller that gives up does not end it for the
// others.
func TestReloadsShareOneRead(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	release := hold(t, e.fake)
	ctx, cancel := context.WithCancel(context.Background())
	first := async(func() error { return e.store.Reload(ctx) })
	waitUntil(t, "the full read to reach API Manager", func() bool { return e.fake.Waiting() == 5 })
	second := async(func() error { return e.store.Reload(context.Background()) })
	waitUntil(t, "the second caller to join", func() bool { return apimdata.FullReadJoined(e.store) == 2 })
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up: %v", err)
	}
	release()
	if err := <-second; err != nil {
		t.Fatalf("the caller that waited: %v", err)
	}
	if e.store.Snapshot() == nil {
		t.Fatal("no snapshot after the shared read")
	}
	if n := e.fake.Calls("/apis"); n != 1 {
		t.Fatalf("full reads %d, want 1", n)
	}
}

// TestKeyReadShared: requests with the same unknown key wait for one read;
// one that gives up gets ErrUnavailable at once, and the read goes on for
// the others even though it was the one that started it.
func TestKeyReadShared(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	e.reload(t)
	release := hold(t, e.fake)
	ctx, cancel := context.WithCancel(context.Background())
	check := func(ctx context.Context) <-chan error {
		return async(func() error {
			r, err := e.store.Check(ctx, "newKey", apiName, apiVersion)
			if err == nil && r.Outcome != apimdata.Pass {
				err = fmt.Errorf("outcome %v, want pass", r.Outcome)
			}
			return err
		})
	}
	first := check(ctx)
	waitUntil(t, "the key's read to reach API Manager", func() bool { return e.fake.Waiting() == 1 })
	others := []<-chan error{check(context.Background()), check(context.Background())}
	waitUntil(t, "three requests on the read", func() bool { return apimdata.KeyReadJoined(e.store, "newKey") == 3 })
	cancel()
	if err := <-first; !errors.Is(err, apimdata.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("the request that gave up: %v, want ErrUnavailable and context.Canceled", err)
	}
	addApplication(e.fake, 4, "newKey")
	release()
	for _, ch := range others {
		if err := <-ch; err != nil {
			t.Fatalf("a request that waited: %v", err)
		}
	}
	if n := e.fake.Calls(keyQuery("newKey")); n != 1 {
		t.Fatalf("targeted reads %d, want 1", n)
	}
}

// TestKeyReadFailureNotRemembered: a targeted read that fails is 503
// (ErrUnavailable) and the next request with the key reads again.
func TestKeyReadFailureNotRemembered(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    apimdata.ClientOptions
		fail    func(t *testing.T, fake *apimfake.Server) (heal func())
		wantErr string
	}{
		{"error status", apimdata.ClientOptions{}, func(t *testing.T, fake *apimfake.Server) func() {
			fake.SetStatus(http.StatusServiceUnavailable)
			return func() { fake.SetStatus(0) }
		}, "status 503"},
		{"endless answer", apimdata.ClientOptions{MaxDataSize: 1 << 20}, func(t *testing.T, fake *apimfake.Server) func() {
			fake.SetEndless(true)
			return func() { fake.SetEndless(false) }
		}, "max_data_size"},
		{"no answer within the timeout", apimdata.ClientOptions{Timeout: 100 * time.Millisecond}, func(t *testing.T, fake *apimfake.Server) func() {
			return hold(t, fake)
		}, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, fixture("UNBLOCKED"), "", tc.opts)
			e.reload(t)
			heal := tc.fail(t, e.fake)
			_, err := e.store.Check(context.Background(), "newKey", apiName, apiVersion)
			if !errors.Is(err, apimdata.ErrUnavailable) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("failed read: %v, want ErrUnavailable and %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), "newKey") {
				t.Fatalf("the error shows a credential or the key: %v", err)
			}
			heal()
			addApplication(e.fake, 4, "newKey")
			if r := e.check(t, "newKey", apiName, apiVersion); r.Outcome != apimdata.Pass {
				t.Fatalf("after API Manager recovered: %v", r.Outcome)
			}
			if n := e.fake.Calls(keyQuery("newKey")); n != 2 {
				t.Fatalf("targeted reads %d, want 2", n)
			}
			if n := e.store.ReadErrors(); n != 1 {
				t.Errorf("ReadErrors %d, want 1", n)
			}
		})
	}
}

// TestConsumerKeyLength: a key longer than MaxConsumerKeyLen has no key
// mapping, without a read.
func TestConsumerKeyLength(t *testing.T) {
	for _, tc := range []struct {
		name  string
		len   int
		reads int
	}{
		{"at the limit: read", apimdata.MaxConsumerKeyLen, 1},
		{"past the limit: not read", apimdata.MaxConsumerKeyLen + 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fixture("UNBLOCKED"), "")
			e.reload(t)
			key := strings.Repeat("k", tc.len)
			if r := e.check(t, key, apiName, apiVersion); r.Outcome != apimdata.NoKeyMapping {
				t.Fatalf("outcome %v", r.Outcome)
			}
			if n := e.fake.Calls(keyQuery(key)); n != tc.reads {
				t.Fatalf("targeted reads %d, want %d", n, tc.reads)
			}
		})
	}
}

// TestKeyReadsInFlightBounded: past maxTargetedInFlight keys being read, a
// new key is 503 without a read, and is not remembered.
func TestKeyReadsInFlightBounded(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	e.reload(t)
	release := hold(t, e.fake)
	var pending []<-chan error
	for i := range apimdata.MaxTargetedInFlight {
		key := fmt.Sprintf("key%d", i)
		pending = append(pending, async(func() error {
			_, err := e.store.Check(context.Background(), key, apiName, apiVersion)
			return err
		}))
	}
	waitUntil(t, "the reads to reach API Manager", func() bool { return e.fake.Waiting() == apimdata.MaxTargetedInFlight })
	if _, err := e.store.Check(context.Background(), "oneMore", apiName, apiVersion); !errors.Is(err, apimdata.ErrUnavailable) {
		t.Fatalf("a key past the bound: %v, want ErrUnavailable", err)
	}
	if n := e.fake.Calls(keyQuery("oneMore")); n != 0 {
		t.Fatalf("the key past the bound was read %d times", n)
	}
	release()
	for _, ch := range pending {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	e.check(t, "oneMore", apiName, apiVersion)
	if n := e.fake.Calls(keyQuery("oneMore")); n != 1 {
		t.Fatalf("reads of the key once there was room: %d, want 1", n)
	}
}

// TestTriedKeysBounded: the memory of keys read is bounded; when it is full
// of keys read within refresh the oldest is forgotten (so a new key is
// still read), keys older than refresh are dropped, and a full read
// forgets all.
func TestTriedKeysBounded(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	e.reload(t)
	apimdata.SetTriedMax(e.store, 3)
	steps := []struct {
		name    string
		before  func()
		key     string
		want    apimdata.Outcome
		reads   int // of key, in all, after the step
		memoLen int
	}{
		{"first key", nil, "k1", apimdata.NoKeyMapping, 1, 1},
		{"second key", nil, "k2", apimdata.NoKeyMapping, 1, 2},
		{"third key fills the memory", nil, "k3", apimdata.NoKeyMapping, 1, 3},
		{"a fourth key is read, the oldest forgotten", nil, "k4", apimdata.NoKeyMapping, 1, 3},
		{"a remembered key is not read again", nil, "k2", apimdata.NoKeyMapping, 1, 3},
		{"the forgotten key is read again", nil, "k1", apimdata.NoKeyMapping, 2, 3},
		{"a key API Manager knows now, memory full", func() { addApplication(e.fake, 5, "k5") }, "k5", apimdata.Pass, 1, 3},
		{"past refresh, the old keys are dropped", func() { e.clock.Add(30 * time.Second) }, "k6", apimdata.NoKeyMapping, 1, 1},
		{"a full read forgets all", func() { e.reload(t) }, "k6", apimdata.NoKeyMapping, 2, 1},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		if r := e.check(t, st.key, apiName, apiVersion); r.Outcome != st.want {
			t.Fatalf("%s: outcome %v, want %v", st.name, r.Outcome, st.want)
		}
		if n := e.fake.Calls(keyQuery(st.key)); n != st.reads {
			t.Fatalf("%s: reads of %s %d, want %d", st.name, st.key, n, st.reads)
		}
		if n := apimdata.TriedLen(e.store); n != st.memoLen {
			t.Fatalf("%s: %d keys remembered, want %d", st.name, n, st.memoLen)
		}
	}
}

// TestSeed: a Store made for new credentials serves the data of the one it
// replaces until its own first read succeeds, and remembers no key.
func TestSeed(t *testing.T) {
	old := newEnv(t, fixture("UNBLOCKED"), "")
	old.reload(t)
	e := newEnv(t, fixture("BLOCKED"), "")
	e.store = apimdata.NewStore(e.client, apimdata.StoreOptions{Refresh: 30 * time.Second, Now: e.clock.Now,
		Seed: old.store.Snapshot()})
	e.fake.SetStatus(http.StatusServiceUnavailable)
	if r := e.check(t, "prodKey", apiName, apiVersion); r.Outcome != apimdata.Pass {
		t.Fatalf("seeded, before any read: %v", r.Outcome)
	}
	if err := e.store.Reload(context.Background()); err == nil {
		t.Fatal("Reload while API Manager is down succeeded")
	}
	if r := e.check(t, "prodKey", apiName, apiVersion); r.Outcome != apimdata.Pass {
		t.Fatalf("seeded, after a failed read: %v", r.Outcome)
	}
	if _, err := e.store.Check(context.Background(), "newKey", apiName, apiVersion); !errors.Is(err, apimdata.ErrUnavailable) {
		t.Fatalf("an unknown key, API Manager down: %v, want ErrUnavailable", err)
	}
	e.fake.SetStatus(0)
	e.reload(t)
	if r := e.check(t, "prodKey", apiName, apiVersion); r.Outcome != apimdata.SubscriptionBlocked {
		t.Fatalf("after its own read: %v", r.Outcome)
	}
}
