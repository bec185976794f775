package caddyfile_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// pemFile writes a private key as PKCS#8 PEM into the test's folder.
func keyFile(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "signing.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// generateSite is a gateway that generates backend JWTs: the worked
// example's route, a route for another API, and one with extra settings.
type generateSite struct {
	g        *gateway
	upstream *testkit.Upstream
	certDER  []byte
}

func newGenerateSite(t *testing.T, generateExtra string) *generateSite {
	k := testkit.Keys()
	s := &generateSite{g: newGateway(t), upstream: testkit.NewUpstream(t)}
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	certPEM := testkit.CertificatePEM(t, k.RSA2, "gateway")
	block, _ := pem.Decode(certPEM)
	s.certDER = block.Bytes
	key, cert := keyFile(t, k.RSA2), writeFile(t, "signing.crt", certPEM)
	s.g.Start(fmt.Sprintf(`
	handle /other/* {
		backend_jwt {
			issuer %[1]s {
				jwks_url %[2]s
			}
			api OtherAPI 1.0.0 /other
			generate {
				signing_key %[3]s
				certificate %[4]s
			}
		}
		reverse_proxy %[5]s
	}
	handle {
		backend_jwt {
			issuer %[1]s {
				jwks_url %[2]s
				validate_subscription
			}
			api PizzaShackAPI 1.0.0 /pizzashack
			generate {
				signing_key %[3]s
				certificate %[4]s
				%[6]s
			}
			jwks_path /.well-known/backend-jwks.json
		}
		reverse_proxy %[5]s {
			header_up X-Token-Copy {http.backend_jwt.token}
		}
	}`, wso2Issuer, jwks.URL, key, cert, s.upstream.Listener.Addr(), generateExtra))
	testkit.WaitFor(t, "the first JWKS fetch", func() bool { return jwks.Fetches.Load() > 0 })
	return s
}

// backendJWT sends a request with token and returns the backend JWT the
// upstream received.
func (s *generateSite) backendJWT(t *testing.T, path, token string) string {
	t.Helper()
	r := s.g.Get(path, bearer(token)...)
	if r.Status != 200 {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	values := s.upstream.Last().Header.Values("X-Jwt-Assertion")
	if len(values) != 1 {
		t.Fatalf("the upstream received %d X-JWT-Assertion headers", len(values))
	}
	return values[0]
}

func TestWorkedExample(t *testing.T) {
	k := testkit.Keys()
	s := newGenerateSite(t, "")
	claims := accessClaims(wso2Issuer)
	token := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), claims)
	before := time.Now().Unix()
	backend := s.backendJWT(t, "/pizza", token)
	after := time.Now().Unix()

	// Verified with the standard library and the signing key's public half.
	d := testkit.Verify(t, backend, k.RSA2.Public(), false)

	// The header: typ, alg, kid (RFC 7638 thumbprint) and the WSO2 x5t.
	pub, _ := jwk.FromRaw(k.RSA2.Public())
	thumb, _ := pub.Thumbprint(crypto.SHA256)
	sum := sha1.Sum(s.certDER)
	wantHeader := map[string]any{
		"typ": "JWT", "alg": "RS256",
		"kid": base64.RawURLEncoding.EncodeToString(thumb),
		"x5t": base64.URLEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:]))),
	}
	if !reflect.DeepEqual(d.Header, wantHeader) {
		t.Errorf("header %v\nwant   %v", d.Header, wantHeader)
	}

	// The claims of shared/examples/wso2-access-token.md.
	iat, _ := d.Claims["iat"].(json.Number).Int64()
	exp, _ := d.Claims["exp"].(json.Number).Int64()
	jti, _ := d.Claims["jti"].(string)
	if iat < before || iat > after || exp != iat+900 || len(jti) != 36 {
		t.Errorf("iat %d exp %d jti %q: want iat now, exp iat+900, a UUID", iat, exp, jti)
	}
	want := map[string]any{
		"iss": "wso2.org/products/am",
		"jti": jti, "iat": json.Number(fmt.Sprint(iat)), "exp": json.Number(fmt.Sprint(exp)),
		"sub":                                        "admin@carbon.super",
		"http://wso2.org/claims/enduser":             "admin@carbon.super",
		"http://wso2.org/claims/applicationid":       "1",
		"http://wso2.org/claims/applicationUUId":     "3f1c4d2e-6a0b-4c5d-9e8f-7a6b5c4d3e2f",
		"http://wso2.org/claims/subscriber":          "admin",
		"http://wso2.org/claims/applicationname":     "DefaultApplication",
		"http://wso2.org/claims/applicationtier":     "Unlimited",
		"http://wso2.org/claims/apiname":             "PizzaShackAPI",
		"http://wso2.org/claims/version":             "1.0.0",
		"http://wso2.org/claims/apicontext":          "/pizzashack",
		"http://wso2.org/claims/tier":                "Gold",
		"http://wso2.org/claims/enduserTenantDomain": "carbon.super",
		"http://wso2.org/claims/keytype":             "PRODUCTION",
		"http://wso2.org/claims/usertype":            "Application_User",
		"azp":                                        "JzCLuJq6kHIpMhK7C5OhiWN7cPsa",
		"scope":                                      "am_application_scope default",
	}
	if !reflect.DeepEqual(d.Claims, want) {
		for name := range mergeKeys(d.Claims, want) {
			if !reflect.DeepEqual(d.Claims[name], want[name]) {
				t.Errorf("claim %s = %v, want %v", name, d.Claims[name], want[name])
			}
		}
	}

	// With the README's log filter, not even Caddy's debug log holds the token.
	for _, secret := range []string{token, backend} {
		if strings.Contains(s.g.Logs(), secret) {
			t.Error("Caddy's log holds a whole token")
		}
	}

	// The placeholder holds the same token.
	if got := s.upstream.Last().Header.Get("X-Token-Copy"); got != backend {
		t.Errorf("{http.backend_jwt.token} = %q", got)
	}

	// The JWKS at jwks_path verifies it too, with the same kid; no token needed.
	r := s.g.Get("/.well-known/backend-jwks.json")
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" || !strings.Contains(r.Header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("JWKS answer %d %v", r.Status, r.Header)
	}
	set, err := jwk.Parse([]byte(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if key, ok := set.LookupKeyID(wantHeader["kid"].(string)); !ok || set.Len() != 1 {
		t.Fatalf("JWKS %s lacks kid %v", r.Body, wantHeader["kid"])
	} else if _, err := jws.Verify([]byte(backend), jws.WithKey(key.Algorithm(), key)); err != nil {
		t.Fatalf("the JWKS does not verify the backend JWT: %v", err)
	}
}

func mergeKeys(a, b map[string]any) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func TestGeneratedTokenCache(t *testing.T) {
	k := testkit.Keys()
	s := newGenerateSite(t, "")
	tokenA := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), accessClaims(wso2Issuer))
	tokenB := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(accessClaims(wso2Issuer), map[string]any{"jti": "other"}))

	first := s.backendJWT(t, "/pizza", tokenA)
	if again := s.backendJWT(t, "/pizza", tokenA); again != first {
		t.Fatal("the same inbound token and API got a different backend JWT")
	}
	other := s.backendJWT(t, "/pizza", tokenB)
	otherAPI := s.backendJWT(t, "/other/x", tokenA)
	jtis := map[string]bool{}
	for _, tok := range []string{first, other, otherAPI} {
		d := testkit.Verify(t, tok, k.RSA2.Public(), false)
		jtis[d.Claims["jti"].(string)] = true
		if tok == otherAPI && d.Claims["http://wso2.org/claims/apiname"] != "OtherAPI" {
			t.Fatalf("the other API's token names API %v", d.Claims["http://wso2.org/claims/apiname"])
		}
	}
	if len(jtis) != 3 {
		t.Fatal("a token was served for another inbound token or API")
	}
}

func TestBackendJWTNeverOutlivesAccessToken(t *testing.T) {
	k := testkit.Keys()
	s := newGenerateSite(t, "")
	exp := time.Now().Unix() + 60
	backend := s.backendJWT(t, "/pizza", testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(accessClaims(wso2Issuer), map[string]any{"exp": exp})))
	d := testkit.Verify(t, backend, k.RSA2.Public(), false)
	if got, _ := d.Claims["exp"].(json.Number).Int64(); got != exp {
		t.Fatalf("backend exp %d, access token exp %d", got, exp)
	}
}

func TestCopiedClaimsCannotOverwrite(t *testing.T) {
	k := testkit.Keys()
	s := newGenerateSite(t, "restricted_claims scope")
	forged := with(accessClaims(wso2Issuer), map[string]any{
		"http://wso2.org/claims/apiname":  "Forged",
		"http://wso2.org/claims/enduser":  "root",
		"http://wso2.org/claims/usertype": "Admin",
		"tierInfo":                        map[string]any{"x": 1},
	})
	d := testkit.Verify(t, s.backendJWT(t, "/pizza", testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), forged)), k.RSA2.Public(), false)
	for name, want := range map[string]any{
		"http://wso2.org/claims/apiname":  "PizzaShackAPI",
		"http://wso2.org/claims/enduser":  "admin@carbon.super",
		"http://wso2.org/claims/usertype": "Application_User",
		"iss":                             "wso2.org/products/am",
	} {
		if d.Claims[name] != want {
			t.Errorf("%s = %v, want %v", name, d.Claims[name], want)
		}
	}
	for _, name := range []string{"tierInfo", "subscribedAPIs", "application", "nbf", "keytype", "scope"} {
		if _, ok := d.Claims[name]; ok {
			t.Errorf("restricted claim %s was copied", name)
		}
	}
}

// TestExpiredWithinSkew: an access token that expired two seconds ago
// passes validation (clock_skew 5s), but no backend JWT can be made that
// does not outlive it, so it is answered as expired whatever on_error says.
func TestExpiredWithinSkew(t *testing.T) {
	k := testkit.Keys()
	for _, onError := range []string{"fail", "continue"} {
		t.Run(onError, func(t *testing.T) {
			s := newGenerateSite(t, "on_error "+onError)
			token := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(accessClaims(wso2Issuer), map[string]any{"exp": time.Now().Unix() - 2}))
			before := s.upstream.Count()
			wantFault(t, s.g.Get("/pizza", bearer(token)...), 401, 900903)
			if s.upstream.Count() != before {
				t.Fatal("the request reached the upstream")
			}
		})
	}
}

// TestManagedKeySharedThroughStorage runs two Caddy instances, in two
// processes, on one storage folder and no signing_key: they race to create
// the managed key under the storage lock and end up signing with the same
// one, so each one's tokens verify with the other's JWKS.
func TestManagedKeySharedThroughStorage(t *testing.T) {
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	upstream := testkit.NewUpstream(t)
	site := fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		generate {
			algorithm ES256
		}
		jwks_path /jwks
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, upstream.Listener.Addr())

	first, second := newGateway(t), newGateway(t)
	second.Storage = first.Storage
	second.StartChild(site)
	first.Start(site)
	testkit.WaitFor(t, "the second instance", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/jwks", second.Port))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})

	token := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), accessClaims(wso2Issuer))
	sets := map[*gateway]jwk.Set{}
	tokens := map[*gateway]string{}
	for _, g := range []*gateway{first, second} {
		set, err := jwk.Parse([]byte(g.Get("/jwks").Body))
		if err != nil || set.Len() != 1 {
			t.Fatalf("JWKS: %v (%d keys)", err, set.Len())
		}
		sets[g] = set
		testkit.WaitFor(t, "JWKS of the issuer", func() bool { return g.Get("/", bearer(token)...).Status == 200 })
		tokens[g] = upstream.Last().Header.Get("X-Jwt-Assertion")
	}
	k1, _ := sets[first].Key(0)
	k2, _ := sets[second].Key(0)
	if k1.KeyID() != k2.KeyID() {
		t.Fatalf("the instances sign with different keys: kid %s and %s", k1.KeyID(), k2.KeyID())
	}
	for signer, verifier := range map[*gateway]*gateway{first: second, second: first} {
		if _, err := jws.Verify([]byte(tokens[signer]), jws.WithKeySet(sets[verifier], jws.WithRequireKid(true))); err != nil {
			t.Fatalf("a token of one instance does not verify with the other's JWKS: %v", err)
		}
	}
	if !strings.HasPrefix(tokens[first], "eyJ") || tokens[first] == tokens[second] {
		t.Fatal("expected two distinct ES256 tokens")
	}
}

// TestJWKSKeepsReplacedKeys reloads the config with another signing_key:
// the JWKS then publishes both keys, so tokens signed before the reload
// still verify until they expire. (Its jwks_path is its own: retired keys
// are kept per process, per jwks_path and issuer.)
func TestJWKSKeepsReplacedKeys(t *testing.T) {
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	upstream := testkit.NewUpstream(t)
	g := newGateway(t)
	site := func(key crypto.Signer) string {
		return fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		generate {
			algorithm ES256
			signing_key %s
		}
		jwks_path /replaced-jwks
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, keyFile(t, key), upstream.Listener.Addr())
	}
	oldKey, newKey := k.P256, mustP256(t)
	g.Start(site(oldKey))
	token := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), accessClaims(wso2Issuer))
	testkit.WaitFor(t, "the issuer's JWKS", func() bool { return g.Get("/", bearer(token)...).Status == 200 })
	before := upstream.Last().Header.Get("X-Jwt-Assertion")

	if err := g.Load("text/caddyfile", []byte(g.Caddyfile(site(newKey)))); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the new config", func() bool {
		return g.Get("/", bearer(token)...).Status == 200 && upstream.Last().Header.Get("X-Jwt-Assertion") != before
	})
	after := upstream.Last().Header.Get("X-Jwt-Assertion")
	set, err := jwk.Parse([]byte(g.Get("/replaced-jwks").Body))
	if err != nil || set.Len() != 2 {
		t.Fatalf("JWKS after the reload: %v, %d keys, want 2", err, set.Len())
	}
	for name, tok := range map[string]string{"before the reload": before, "after the reload": after} {
		if _, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
			t.Errorf("the token from %s does not verify with the JWKS: %v", name, err)
		}
	}
}

func mustP256(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
