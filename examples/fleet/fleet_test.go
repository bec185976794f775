// The fleet tests: two Caddy processes sharing one Redis storage (this
// module's fleet_redis) sign with one managed key, publish one JWKS, see
// one rotation, refuse the same revoked tokens, and survive the death of
// an instance that holds the storage lock.
//
// Beside them, the storage's own tests: its keys and folders (storage_test.go:
// Store, Load, List, Stat, Exists and Delete, a Delete racing a Store, and
// no keyspace scan), its lock leases (lock_test.go: a lease lost to a
// Redis restart, outage or pause, or to the lock key expiring, is reported
// by RenewLockLease and Unlock, and the next holder's lock is kept) and
// its lifecycle (lifecycle_test.go: config reloads keep Redis's connection
// count, Caddy's stop closes them, a JSON lock_ttl is checked).
//
// They start redis-server on a free 127.0.0.1 port, empty and without
// persistence, and stop it when the test ends (some restart, stop or pause
// it midway); without redis-server they are skipped, except under CI=true,
// where that is a failure.
package fleet_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	_ "github.com/caddy-backend-jwt/caddy-backend-jwt"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/examples/fleet/redisstorage"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

const issuer = "https://localhost:9443/oauth2/token"

// holdLockEnv makes the test binary take a storage lock, say so on its
// standard output and wait to be killed.
const holdLockEnv = "FLEET_HOLD_LOCK"

func TestMain(m *testing.M) {
	if name := os.Getenv(holdLockEnv); name != "" {
		holdLock(name, os.Getenv("FLEET_REDIS"))
		return
	}
	testcaddy.Main(m)
}

// holdLock provisions the storage as Caddy does (Provision, then
// CertMagicStorage) and takes the lock, which it keeps renewing.
func holdLock(name, addr string) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	s := &redisstorage.Storage{Address: addr, LockTTL: caddy.Duration(2 * time.Second)}
	err := s.Provision(ctx)
	var storage certmagic.Storage
	if err == nil {
		storage, err = s.CertMagicStorage()
	}
	if err == nil {
		err = storage.Lock(context.Background(), name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		os.Exit(1)
	}
	fmt.Println("held")
	select {}
}

// fleet is two gateways on one Redis storage, with the same site.
type fleet struct {
	a, b     *testcaddy.Gateway
	upstream *testkit.Upstream
	site     string
	srv      *redisServer // its client is the test's own
}

func newFleet(t *testing.T, generate string) *fleet {
	srv := startRedis(t)
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	f := &fleet{a: testcaddy.New(t), b: testcaddy.New(t), upstream: testkit.NewUpstream(t), srv: srv}
	storage := fmt.Sprintf("fleet_redis {\n\t\taddress %s\n\t\tlock_ttl 2s\n\t}", srv.addr)
	f.a.StorageModule, f.b.StorageModule = storage, storage
	f.site = fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		clock_skew 1s
		revocation_sync 1s
		generate {
			algorithm ES256
			%s
		}
		jwks_path /jwks
	}
	reverse_proxy %s`, issuer, jwks.URL, generate, f.upstream.Listener.Addr())
	return f
}

func (f *fleet) start(t *testing.T) {
	f.b.StartChild(f.site)
	f.a.Start(f.site)
	tok := testkit.AccessToken(t, issuer, nil)
	for _, g := range []*testcaddy.Gateway{f.a, f.b} {
		testkit.WaitFor(t, "an instance answering", func() bool {
			r, err := g.TryGet("/", testcaddy.Bearer(tok)...)
			return err == nil && r.Status == 200
		})
	}
}

// backendJWT sends tok to g and returns the backend JWT the upstream got.
func (f *fleet) backendJWT(t *testing.T, g *testcaddy.Gateway, tok string) string {
	t.Helper()
	if r := g.Get("/", testcaddy.Bearer(tok)...); r.Status != 200 {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	return f.upstream.Last().Header.Get("X-Jwt-Assertion")
}

func jwksOf(t *testing.T, g *testcaddy.Gateway) jwk.Set {
	t.Helper()
	set, err := jwk.Parse([]byte(g.Get("/jwks").Body))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func containsAll(set, sub []string) bool {
	for _, k := range sub {
		if !slices.Contains(set, k) {
			return false
		}
	}
	return true
}

func kids(set jwk.Set) []string {
	var out []string
	for i := range set.Len() {
		k, _ := set.Key(i)
		out = append(out, k.KeyID())
	}
	slices.Sort(out)
	return out
}

func TestFleetSharedKeyAndRevocation(t *testing.T) {
	f := newFleet(t, "")
	f.start(t)
	setA, setB := jwksOf(t, f.a), jwksOf(t, f.b)
	if ka, kb := kids(setA), kids(setB); len(ka) != 1 || !slices.Equal(ka, kb) {
		t.Fatalf("JWKS kids: A %v, B %v; want one shared key", ka, kb)
	}
	tok := testkit.AccessToken(t, issuer, nil)
	for _, c := range []struct {
		from *testcaddy.Gateway
		set  jwk.Set
		name string
	}{{f.a, setB, "A's token with B's JWKS"}, {f.b, setA, "B's token with A's JWKS"}} {
		if _, err := jws.Verify([]byte(f.backendJWT(t, c.from, tok)), jws.WithKeySet(c.set, jws.WithRequireKid(true))); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	if n, err := f.srv.client.Exists(context.Background(), "caddy:data:backend_jwt/signing_keys/es256.pem").Result(); err != nil || n != 1 {
		t.Fatalf("the managed key is not in Redis: %v %d", err, n)
	}

	// 20 revocations posted to A, each of a token B holds in its caches:
	// A refuses it at once, B within revocation_sync.
	var spread []time.Duration
	for i := range 20 {
		jti := fmt.Sprintf("spread-%d", i)
		tok := testkit.AccessToken(t, issuer, map[string]any{"jti": jti})
		f.backendJWT(t, f.b, tok)
		f.backendJWT(t, f.b, tok)
		body := fmt.Sprintf(`{"jti":%q,"exp":%d}`, jti, time.Now().Add(time.Hour).Unix())
		posted := time.Now()
		if status, out, err := f.a.Admin("POST", "/backend_jwt/revocations", "application/json", []byte(body)); err != nil || status != 201 {
			t.Fatalf("POST to A: %d %s %v", status, out, err)
		}
		testcaddy.WantFault(t, f.a.Get("/", testcaddy.Bearer(tok)...), 401, 900901)
		testkit.WaitFor(t, "B to refuse the token revoked at A", func() bool {
			return f.b.Get("/", testcaddy.Bearer(tok)...).Status == 401
		})
		spread = append(spread, time.Since(posted))
	}
	slices.Sort(spread)
	t.Logf("revocation posted to A, first 401 at B, over %d revocations (revocation_sync 1s): median %v, max %v",
		len(spread), spread[len(spread)/2].Round(time.Millisecond), spread[len(spread)-1].Round(time.Millisecond))
	_, out, _ := f.b.Admin("GET", "/backend_jwt/revocations", "", nil)
	if !strings.Contains(string(out), `"count":20`) {
		t.Fatalf("B's revocations: %s", out)
	}
}

func TestFleetRotation(t *testing.T) {
	f := newFleet(t, "key_rotation 4s\n\t\t\texpiry 2s\n\t\t\tcache off")
	f.start(t)
	tok := testkit.AccessToken(t, issuer, nil)
	signedBy := func(g *testcaddy.Gateway) string {
		msg, err := jws.Parse([]byte(f.backendJWT(t, g, tok)))
		if err != nil {
			t.Fatal(err)
		}
		return msg.Signatures()[0].ProtectedHeaders().KeyID()
	}
	first := signedBy(f.a)
	var next string
	testkit.WaitFor(t, "both instances to sign with a new key", func() bool {
		next = signedBy(f.a)
		return next != first && signedBy(f.b) == next
	})
	// In this process A also publishes the keys of the tests before (a
	// retired key stays while tokens it signed may live): B's are in it.
	ka, kb := kids(jwksOf(t, f.a)), kids(jwksOf(t, f.b))
	if !containsAll(ka, kb) || !slices.Contains(kb, next) {
		t.Fatalf("after the rotation: A publishes %v, B %v; want B's keys, the new one among them, in A's", ka, kb)
	}
	t.Logf("rotated from %s to %s; B publishes %v", first, next, kb)
}

// TestFleetLockHolderKilled: an instance dies while it holds the lock
// under which the managed key is made; the next one waits for the lock to
// expire, makes the key, and a later instance uses the same one.
func TestFleetLockHolderKilled(t *testing.T) {
	f := newFleet(t, "")
	const lock = "backend_jwt_signing_key_es256"
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), holdLockEnv+"="+lock, "FLEET_REDIS="+f.srv.addr)
	holder.Stderr = os.Stderr
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("the holder said %q (%v)", line, err)
	}
	_ = holder.Process.Kill()
	_ = holder.Wait()
	if ttl, err := f.srv.client.PTTL(context.Background(), "caddy:lock:"+lock).Result(); err != nil || ttl <= 0 {
		t.Fatalf("the lock is not held after the holder died: %v %v", ttl, err)
	}
	killed := time.Now()
	f.a.Start(f.site) // waits for the lock to expire
	t.Logf("the first instance started %v after the holder was killed (lock_ttl 2s)", time.Since(killed).Round(time.Millisecond))
	if n, _ := f.srv.client.Exists(context.Background(), "caddy:lock:"+lock).Result(); n != 0 {
		t.Fatal("the lock was not released")
	}
	f.b.StartChild(f.site)
	tok := testkit.AccessToken(t, issuer, nil)
	testkit.WaitFor(t, "the second instance", func() bool {
		r, err := f.b.TryGet("/", testcaddy.Bearer(tok)...)
		return err == nil && r.Status == 200
	})
	setA := jwksOf(t, f.a)
	if ka, kb := kids(setA), kids(jwksOf(t, f.b)); len(kb) != 1 || !containsAll(ka, kb) {
		t.Fatalf("JWKS kids: A %v, B %v; want B's one key in A's", ka, kb)
	}
	if _, err := jws.Verify([]byte(f.backendJWT(t, f.b, tok)), jws.WithKeySet(setA, jws.WithRequireKid(true))); err != nil {
		t.Fatalf("B's token with A's JWKS: %v", err)
	}
}
