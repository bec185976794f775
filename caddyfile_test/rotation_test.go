package caddyfile_test

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// TestManagedKeyRotation runs two Caddy instances, in two processes, on one
// storage folder with key_rotation 4s (a new key is published 2s before it
// signs) and backend JWTs living 2s. It reads both JWKS and asks both
// instances for a backend JWT, over and over, through at least two
// rotations, and checks what a backend relying on the JWKS needs:
//   - every backend JWT, from either instance, verifies with the JWKS each
//     instance published just before it was made, so a new key is
//     published before it signs, by both;
//   - a key stays in both JWKS while a token it signed is still valid;
//   - each instance signs with each key once, in turn (the two may switch
//     a few milliseconds apart);
//   - the first key leaves the JWKS once its tokens have all expired.
func TestManagedKeyRotation(t *testing.T) {
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	upstream := testkit.NewUpstream(t)
	site := fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		clock_skew 1s
		generate {
			algorithm ES256
			key_rotation 4s
			expiry 2s
			cache off
		}
		jwks_path /jwks
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, upstream.Listener.Addr())

	first, second := newGateway(t), newGateway(t)
	second.Storage = first.Storage
	// The managed key in use before rotation was turned on signs first.
	managed := mustP256(t)
	der, err := x509.MarshalPKCS8PrivateKey(managed)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(first.Storage, "backend_jwt", "signing_keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "es256.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	second.StartChild(site)
	first.Start(site)
	instances := []*gateway{first, second}
	token := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), accessClaims(wso2Issuer))
	for _, g := range instances {
		testkit.WaitFor(t, "an instance answering", func() bool {
			r, err := g.TryGet("/", bearer(token)...)
			return err == nil && r.Status == 200
		})
	}

	var (
		tokens     []signedToken // every backend JWT seen
		kidsSigned [2][]string   // per instance, in the order they first signed
		firstKid   string
		firstGone  bool
	)
	deadline := time.Now().Add(40 * time.Second)
	for len(kidsSigned[0]) < 3 || len(kidsSigned[1]) < 3 || !firstGone {
		if time.Now().After(deadline) {
			t.Fatalf("after 40s: keys that signed %v, first key left the JWKS: %v", kidsSigned, firstGone)
		}
		sets := make([]jwk.Set, len(instances))
		for i, g := range instances {
			read := time.Now()
			r := g.Get("/jwks")
			if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=1" {
				t.Fatalf("JWKS Cache-Control %q, want max-age of a quarter of the period", cc)
			}
			set, err := jwk.Parse([]byte(r.Body))
			if err != nil {
				t.Fatalf("JWKS of instance %d: %v", i, err)
			}
			sets[i] = set
			for _, s := range tokens {
				if _, ok := set.LookupKeyID(s.kid); !ok && s.expires.After(read) {
					t.Fatalf("instance %d's JWKS dropped key %s while a token it signed is valid until %s", i, s.kid, s.expires.Format(time.RFC3339Nano))
				}
			}
		}
		if firstKid != "" {
			_, in0 := sets[0].LookupKeyID(firstKid)
			_, in1 := sets[1].LookupKeyID(firstKid)
			firstGone = !in0 && !in1
		}
		for i, g := range instances {
			if r := g.Get("/", bearer(token)...); r.Status != 200 {
				t.Fatalf("instance %d: status %d %s", i, r.Status, r.Body)
			}
			jwt := upstream.Last().Header.Get("X-Jwt-Assertion")
			for j, set := range sets {
				if _, err := jws.Verify([]byte(jwt), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
					t.Fatalf("a token of instance %d does not verify with the JWKS instance %d published just before: %v", i, j, err)
				}
			}
			s := signedBy(t, jwt)
			tokens = append(tokens, s)
			if seen := kidsSigned[i]; len(seen) == 0 || seen[len(seen)-1] != s.kid {
				if slices.Contains(seen, s.kid) {
					t.Fatalf("instance %d: key %s signs again after %v", i, s.kid, seen)
				}
				kidsSigned[i] = append(seen, s.kid)
			}
		}
		if firstKid == "" {
			firstKid = kidsSigned[0][0]
			if want := thumbprint(t, managed.Public()); firstKid != want {
				t.Fatalf("the first key to sign is %s, want the managed key in use, %s", firstKid, want)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The ring in storage is what both instances read.
	data, err := os.ReadFile(filepath.Join(dir, "es256.rotation.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ring struct {
		Keys []struct {
			SignsFrom time.Time `json:"signs_from"`
			Key       string    `json:"key"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &ring); err != nil || len(ring.Keys) == 0 || len(ring.Keys) > 3 {
		t.Fatalf("the key ring in storage: %v, %d keys (want 1 to 3)", err, len(ring.Keys))
	}
	for _, g := range instances {
		if strings.Contains(g.Logs(), "PRIVATE KEY") || strings.Contains(g.Logs(), ring.Keys[0].Key) {
			t.Fatal("a private key was logged")
		}
	}
}

// thumbprint is the RFC 7638 kid of a public key.
func thumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	key, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// signedToken is what a backend JWT says of its key and lifetime.
type signedToken struct {
	kid     string
	expires time.Time
}

// signedBy reads the kid and exp of a backend JWT.
func signedBy(t *testing.T, jwt string) signedToken {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("backend JWT of %d parts", len(parts))
	}
	var header struct {
		Kid string `json:"kid"`
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	for i, dst := range []any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err == nil {
			err = json.Unmarshal(raw, dst)
		}
		if err != nil {
			t.Fatalf("backend JWT part %d: %v", i, err)
		}
	}
	return signedToken{header.Kid, time.Unix(claims.Exp, 0)}
}
