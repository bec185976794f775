package caddyfile_test

// SPEC 15's `caddy backend-jwt inspect`: a backend JWT made by a real
// Caddy, checked against the gateway's jwks_path, a JWKS file and a
// certificate, and the tokens a backend developer meets when it fails.

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
)

// caddyCommandEnv is the variable that makes the test binary run as the
// caddy command (internal/testcaddy's commandEnv, which Command sets).
// runCaddy runs the caddy command line with args, with stdin as its
// standard input ("" for none), and returns what it printed and its exit
// code.
func runCaddy(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testcaddy.CommandWithInput(t, stdin, nil, args...)
}

// wantNoSecret fails when out shows a whole token or its signature.
func wantNoSecret(t *testing.T, out string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if tok == "" {
			continue
		}
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(out, tok) || (len(sig) > 16 && strings.Contains(out, sig)) {
			t.Fatalf("the output shows a whole token or signature:\n%s", out)
		}
	}
}

// inspectFixture is a gateway generating backend JWTs, publishing its key
// at jwks_path, and the files and tokens the inspect cases use.
type inspectFixture struct {
	backend  string // a backend JWT the gateway made
	kid      string // its kid
	jwksURL  string // the gateway's jwks_path
	jwksFile string // the same JWKS in a file
	certFile string // the signing key's certificate
}

func newInspectFixture(t *testing.T) *inspectFixture {
	k := testkit.Keys()
	g, upstream := newGateway(t), testkit.NewUpstream(t)
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	f := &inspectFixture{certFile: writeFile(t, "backend.crt", testkit.CertificatePEM(t, k.RSA2, "gateway"))}
	g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		generate {
			signing_key %s
			certificate %s
		}
		jwks_path /.well-known/backend-jwks.json
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, keyFile(t, k.RSA2), f.certFile, upstream.Listener.Addr()))
	if r := g.Get("/", bearer(testkit.AccessToken(t, wso2Issuer, nil))...); r.Status != 200 {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	f.backend = upstream.Last().Header.Get("X-Jwt-Assertion")
	f.kid = testkit.Verify(t, f.backend, k.RSA2.Public(), false).Header["kid"].(string)
	f.jwksURL = fmt.Sprintf("http://127.0.0.1:%d/.well-known/backend-jwks.json", g.Port)
	r := g.Get("/.well-known/backend-jwks.json")
	if r.Status != 200 {
		t.Fatalf("jwks_path: %d", r.Status)
	}
	f.jwksFile = writeFile(t, "backend-jwks.json", []byte(r.Body))
	return f
}

// base64Backend is a backend JWT in WSO2 API Manager's encoding (standard
// base64), made by jwtgen with the key of certFile.
func base64Backend(t *testing.T, certFile string) string {
	k := testkit.Keys()
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	g, err := jwtgen.New(jwtgen.Config{Key: k.RSA2, Certificates: []*x509.Certificate{cert}, Encoding: "base64"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := g.Generate(&jwtgen.Input{
		Claims: map[string]json.RawMessage{"sub": json.RawMessage(`"admin@carbon.super"`)},
		Now:    time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestInspect(t *testing.T) {
	k := testkit.Keys()
	f := newInspectFixture(t)
	now := time.Now().Unix()
	backendClaims := map[string]any{"iss": "wso2.org/products/am", "sub": "admin", "iat": now, "exp": now + 600, "jti": "x"}
	backendHdr := map[string]any{"typ": "JWT", "alg": "RS256", "kid": f.kid}
	expired := testkit.Sign(t, "RS256", k.RSA2, backendHdr, testkit.With(backendClaims, map[string]any{"iat": now - 7200, "exp": now - 3600}))
	wrongKey := testkit.Sign(t, "RS256", k.RSA, backendHdr, backendClaims)
	unknownKID := testkit.Sign(t, "RS256", k.RSA2, hdr("RS256", "not-published"), backendClaims)
	ecWithRSAKid := testkit.Sign(t, "ES256", k.P256, map[string]any{"alg": "ES256", "kid": f.kid}, backendClaims)
	hmac := testkit.Sign(t, "HS256", []byte("a shared secret of 32 bytes ....."), map[string]any{"alg": "HS256", "kid": f.kid}, backendClaims)
	apiKeyCert := testkit.CertificatePEM(t, testkit.APIKeySigner(), "apikeysign")
	apiKey := testkit.APIKey(t, testkit.APIKeySigner(), apiKeyCert, testkit.APIKeyClaims(nil))
	apiKeyCertFile := writeFile(t, "apikeysign.crt", apiKeyCert)
	std := base64Backend(t, f.certFile)
	carrying := testkit.AccessToken(t, wso2Issuer, map[string]any{"backendJwt": f.backend})
	stdNote := "none" // the rare token without '+' or '/' reads as base64url too
	if strings.ContainsAny(std, "+/") {
		stdNote = "standard base64"
	}

	for _, tc := range []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		wantOut  []string // in stdout
		wantErr  []string // in stderr
	}{
		{name: "backend JWT against jwks_path", args: []string{f.backend, "--jwks", f.jwksURL},
			wantOut: []string{`"iss": "wso2.org/products/am"`, `"http://wso2.org/claims/enduser": "admin@carbon.super"`,
				"expires in", "Verified:  yes, RS256 with kid " + fmt.Sprintf("%q", f.kid), "RSA 2048 bits", "base64url (RFC 7515)"}},
		{name: "backend JWT against a JWKS file", args: []string{f.backend, "--jwks", f.jwksFile},
			wantOut: []string{"Verified:  yes", "JWKS file"}},
		{name: "backend JWT against its certificate", args: []string{f.backend, "--cert", f.certFile},
			wantOut: []string{`Verified:  yes, RS256 with the certificate of "CN=gateway"`, "x5t names",
				"the kid is the key's RFC 7638 thumbprint"}},
		{name: "no key source: decoded only", args: []string{f.backend},
			wantOut: []string{`"alg": "RS256"`, "exp ", "Signature: RS256, 256 bytes (342 characters, begins "}},
		{name: "from stdin, with a Bearer prefix", stdin: "  Bearer " + f.backend + "\n", args: []string{"-", "--jwks", f.jwksURL},
			wantOut: []string{"Verified:  yes"}},
		{name: "from stdin, no argument", stdin: f.backend + "\n", args: []string{"--cert", f.certFile},
			wantOut: []string{"Verified:  yes"}},
		{name: "WSO2 base64 encoding", args: []string{std, "--cert", f.certFile},
			wantOut: []string{"Verified:  yes", stdNote, "x5t names the certificate"}},
		{name: "expired", args: []string{expired, "--jwks", f.jwksURL}, wantCode: 1,
			wantOut: []string{"Verified:  yes", "EXPIRED 1h0m"}, wantErr: []string{"expired at", "(1h0m"}},
		{name: "expired, no key source", args: []string{expired}, wantCode: 1, wantErr: []string{"expired at"}},
		{name: "wrong key", args: []string{wrongKey, "--jwks", f.jwksURL}, wantCode: 1,
			wantOut: []string{"Verified:  NO"}, wantErr: []string{"signature not verified: bad signature: it does not verify with kid"}},
		{name: "wrong certificate", args: []string{wrongKey, "--cert", f.certFile}, wantCode: 1,
			wantErr: []string{"bad signature"}},
		{name: "unknown kid", args: []string{unknownKID, "--jwks", f.jwksURL}, wantCode: 1,
			wantErr: []string{`no key with kid "not-published" (the key set has "` + f.kid + `")`}},
		{name: "alg mismatch", args: []string{ecWithRSAKid, "--jwks", f.jwksURL}, wantCode: 1,
			wantErr: []string{"alg mismatch"}},
		{name: "HMAC refused", args: []string{hmac, "--jwks", f.jwksURL}, wantCode: 1,
			wantOut: []string{"the gateway refuses HMAC tokens"}, wantErr: []string{"alg HS256 (HMAC) refused"}},
		{name: "WSO2 API key, padded", args: []string{apiKey, "--cert", apiKeyCertFile},
			wantOut: []string{`"token_type": "apiKey"`, "padded with '='", "a WSO2 API key", "Verified:  yes",
				"x5t names the certificate of \"CN=apikeysign\" (WSO2 format"}},
		{name: "a backendJwt claim's signature is not shown", args: []string{carrying},
			wantOut: []string{`"backendJwt": "` + f.backend[:strings.LastIndexByte(f.backend, '.')+17] + "…(signature of 342 characters, not shown)"}},
		{name: "not three parts", args: []string{"eyJhbGciOiJSUzI1NiJ9.e30"}, wantCode: 1,
			wantErr: []string{"not a JWT: 2 part(s)"}},
		{name: "encrypted", args: []string{"a.b.c.d.e"}, wantCode: 1, wantErr: []string{"JWE"}},
		{name: "bad base64", args: []string{"eyJhbGciOiJSUzI1NiJ9.e3$.c2ln"}, wantCode: 1,
			wantErr: []string{"bad base64 in the payload, at its character 3"}},
		{name: "not JSON", args: []string{testkit.B64([]byte("not json")) + ".e30.c2ln"}, wantCode: 1,
			wantErr: []string{"the header is not a JSON object"}},
		{name: "payload an array", args: []string{testkit.B64([]byte(`{"alg":"RS256"}`)) + "." + testkit.B64([]byte(`[1]`)) + ".c2ln"},
			wantCode: 1, wantErr: []string{"the payload is not a JSON object: a JSON array"}},
		{name: "empty stdin", stdin: "\n", args: []string{"-"}, wantCode: 1, wantErr: []string{"no token given"}},
		{name: "PEM given as JWKS", args: []string{f.backend, "--jwks", f.certFile}, wantCode: 1, wantErr: []string{"give it with --cert"}},
		{name: "both key sources", args: []string{f.backend, "--jwks", f.jwksURL, "--cert", f.certFile}, wantCode: 1,
			wantErr: []string{"not both"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runCaddy(t, tc.stdin, append([]string{"backend-jwt", "inspect"}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout, stderr)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if code != 0 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("the reason is not one line:\n%s", stderr)
			}
			wantNoSecret(t, stdout+stderr, f.backend, expired, wrongKey, unknownKID, ecWithRSAKid, hmac, apiKey, std, carrying)
		})
	}
}
