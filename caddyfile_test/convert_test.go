package caddyfile_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// parseCert is the certificate of a PEM block.
func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// jksStore writes a JKS store, as keytool makes them: a trusted
// certificate entry per alias of certs, and a private key entry per alias
// of keys (the key with its certificate).
func jksStore(t *testing.T, name, password string, certs map[string][]byte, keys map[string]crypto.Signer, keyCerts map[string][]byte) string {
	t.Helper()
	ks := keystore.New()
	for alias, certPEM := range certs {
		entry := keystore.TrustedCertificateEntry{CreationTime: time.Now(), Certificate: keystore.Certificate{Type: "X509", Content: parseCert(t, certPEM).Raw}}
		if err := ks.SetTrustedCertificateEntry(alias, entry); err != nil {
			t.Fatal(err)
		}
	}
	for alias, key := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		entry := keystore.PrivateKeyEntry{CreationTime: time.Now(), PrivateKey: der,
			CertificateChain: []keystore.Certificate{{Type: "X509", Content: parseCert(t, keyCerts[alias]).Raw}}}
		if err := ks.SetPrivateKeyEntry(alias, entry, []byte(password)); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := ks.Store(&b, []byte(password)); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, name, b.Bytes())
}

// pkcs12KeyStore writes a PKCS#12 keystore holding key and its certificate.
func pkcs12KeyStore(t *testing.T, password string, key crypto.Signer, certPEM []byte) string {
	t.Helper()
	data, err := pkcs12.Modern.Encode(key, parseCert(t, certPEM), nil, password)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "keystore.p12", data)
}

// convert runs `caddy backend-jwt convert` and fails unless it succeeds.
func convert(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := testcaddy.Command(t, nil, append([]string{"backend-jwt", "convert"}, args...)...)
	if code != 0 {
		t.Fatalf("convert exited %d: %s", code, stderr)
	}
	return stdout
}

// TestConvertMicroGateway converts the sample micro-gw.conf with a JKS
// trust store and a PKCS#12 keystore, and runs Caddy with the block: the
// issuer verified by the trust store's certificate, the JWKS issuer (its
// URL, and the key manager's, pointed at test servers) with remote claims
// and claim mapping, and an API key all pass, and the backend JWT verifies
// with the keystore's key.
func TestConvertMicroGateway(t *testing.T) {
	k := testkit.Keys()
	idpCert := testkit.CertificatePEM(t, k.RSA, "idp")
	apiKeyCert := testkit.CertificatePEM(t, testkit.APIKeySigner(), "apikeysign")
	gatewayCert := testkit.CertificatePEM(t, k.RSA2, "gateway")
	truststore := jksStore(t, "truststore.jks", "ts-pass", map[string][]byte{"idp_cert": idpCert, "apikey_signer": apiKeyCert}, nil, nil)
	keystore := pkcs12KeyStore(t, "ks-pass", k.RSA2, gatewayCert)
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "ec", Key: k.P256})
	km := newKeyManager(t)
	sample, err := os.ReadFile("../examples/wso2/micro-gw.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer(`"https://localhost:9443/oauth2/jwks"`, strconv.Quote(jwks.URL),
		`"https://localhost:9443"`, strconv.Quote(km.URL)).Replace(string(sample))
	out := filepath.Join(t.TempDir(), "pem")
	block := convert(t, writeFile(t, "micro-gw.conf", []byte(conf)), "--out-dir", out,
		"--truststore", truststore, "--truststore-password", "ts-pass", "--keystore", keystore, "--keystore-password", "ks-pass")

	for name, mode := range map[string]os.FileMode{"idp_cert.pem": 0o644, "apikey_signer.pem": 0o644, "ballerina.key": 0o600, "ballerina.pem": 0o644} {
		st, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("%v\n%s", err, block)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %o, want %o", name, st.Mode().Perm(), mode)
		}
	}
	for _, secret := range []string{"PRIVATE KEY", "ts-pass", "ks-pass", "password admin", `password = "`, `Password = "`} {
		if strings.Contains(block, secret) {
			t.Fatalf("the block holds %q:\n%s", secret, block)
		}
	}
	for _, line := range []string{"certificate " + filepath.Join(out, "idp_cert.pem"), "signing_key " + filepath.Join(out, "ballerina.key"),
		"password {env.KM_PASSWORD}", "# not converted: listenerConfig.keyStorePassword = <redacted>"} {
		if !strings.Contains(block, line) {
			t.Errorf("no %q in:\n%s", line, block)
		}
	}

	upstream := testkit.NewUpstream(t)
	g := newGateway(t)
	site := indent(block) + "\n\treverse_proxy " + upstream.Listener.Addr().String()
	if _, err := adapt(g.Caddyfile(site)); err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, block)
	}
	t.Setenv("KM_PASSWORD", "km-secret")
	g.Start(site)
	testkit.WaitFor(t, "the first JWKS fetch", func() bool { return jwks.Fetches.Load() > 0 })

	const D = "http://wso2.org/claims/"
	now := time.Now().Unix()
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
		want    map[string]any // claims of the backend JWT
		absent  []string
	}{
		{"the trust store's issuer", bearer(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", ""), with(accessClaims("https://idp.example.com/issuer"),
			map[string]any{"department": "sales", "iat": now, "jti": "cert-1"}))), 200,
			map[string]any{"iss": "wso2.org/products/am", D + "department": "sales", "sub": "admin@carbon.super"}, []string{"department", "scope"}},
		{"the JWKS issuer, with remote claims", bearer(testkit.Sign(t, "ES256", k.P256, hdr("ES256", "ec"), with(accessClaims("https://localhost:9443/oauth2/token"),
			map[string]any{"aud": []any{"http://org.wso2.apimgt/gateway"}, "FName": "Jo", "jti": "jwks-1"}))), 200,
			map[string]any{"firstName": "Jo", D + "givenname": "John", D + "enduser": "admin@carbon.super"}, []string{"FName", "scope"}},
		{"an API key", []string{"apikey", testkit.APIKey(t, testkit.APIKeySigner(), apiKeyCert, testkit.APIKeyClaims(nil))}, 200,
			map[string]any{D + "applicationname": "KeyApp"}, nil},
		{"a token the trust store does not verify", bearer(testkit.Sign(t, "RS256", k.RSA2, hdr("RS256", ""), accessClaims("https://idp.example.com/issuer"))), 401, nil, nil},
		{"a token of the JWKS issuer without its audience", bearer(testkit.Sign(t, "ES256", k.P256, hdr("ES256", "ec"), accessClaims("https://localhost:9443/oauth2/token"))), 401, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := g.Get("/", tc.headers...)
			if tc.status != 200 {
				wantFault(t, r, tc.status, 900901)
				return
			}
			if r.Status != 200 {
				t.Fatalf("status %d %s", r.Status, r.Body)
			}
			req := upstream.Last()
			if a := req.Header.Get("Authorization"); a != "" {
				t.Errorf("Authorization reached the backend: strip_authorization is missing")
			}
			jwt := testkit.Verify(t, req.Header.Get("X-Jwt-Assertion"), k.RSA2.Public(), false)
			if jwt.Header["x5t"] == nil {
				t.Errorf("no x5t: the keystore's certificate is not used: %v", jwt.Header)
			}
			for name, want := range tc.want {
				if got := jwt.Claims[name]; got != want {
					t.Errorf("claim %s = %v, want %v", name, got, want)
				}
			}
			for _, name := range tc.absent {
				if v, ok := jwt.Claims[name]; ok {
					t.Errorf("claim %s = %v should be absent", name, v)
				}
			}
		})
	}
	km.mu.Lock()
	defer km.mu.Unlock()
	if len(km.seen) == 0 || !strings.Contains(km.seen[0], " admin:km-secret ") {
		t.Errorf("the key manager saw %q, want admin with the password of KM_PASSWORD", km.seen)
	}
}

// TestConvertAPIManager converts the sample deployment.toml with a JKS
// keystore holding API Manager's signing key: the block adapts.
func TestConvertAPIManager(t *testing.T) {
	k := testkit.Keys()
	keystore := jksStore(t, "wso2carbon.jks", "wso2carbon", nil,
		map[string]crypto.Signer{"wso2carbon": k.RSA2}, map[string][]byte{"wso2carbon": testkit.CertificatePEM(t, k.RSA2, "wso2carbon")})
	out := t.TempDir()
	block := convert(t, "../examples/wso2/deployment.toml", "--out-dir", out, "--keystore", keystore, "--keystore-password", "wso2carbon")
	upstream := testkit.NewUpstream(t)
	g := newGateway(t)
	cfg, err := adapt(g.Caddyfile(indent(block) + "\n\treverse_proxy " + upstream.Listener.Addr().String()))
	if err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, block)
	}
	for _, want := range []string{`"issuer":"https://cp.example.com:9443/oauth2/token"`, `"jwks_url":"https://cp.example.com:9443/oauth2/jwks"`,
		`"server_url":"https://cp.example.com:9443"`, `"password":"{env.APIM_PASSWORD}"`, `"encoding":"base64url"`, `"convert_dialect":true`,
		`"restricted_claims":["scope","azp"]`, `"signing_key":"` + filepath.Join(out, "wso2carbon.key") + `"`, `"strip_authorization":true`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("no %s in the adapted JSON:\n%s", want, cfg)
		}
	}
	if st, err := os.Stat(filepath.Join(out, "wso2carbon.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("wso2carbon.key: %v, mode %v", err, st)
	}
}

// TestConvertCommandErrors checks that bad input makes the command exit 1
// with a one-line reason naming the problem, and print no block.
func TestConvertCommandErrors(t *testing.T) {
	k := testkit.Keys()
	truststore := jksStore(t, "truststore.jks", "ts-pass", map[string][]byte{"apikey_signer": testkit.CertificatePEM(t, k.RSA, "x")}, nil, nil)
	keystore := pkcs12KeyStore(t, "ks-pass", k.RSA2, testkit.CertificatePEM(t, k.RSA2, "gateway"))
	sample := "../examples/wso2/micro-gw.conf"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"TOML syntax error", []string{writeFile(t, "bad.conf", []byte("[[jwtTokenConfig]]\nissuer = = \"x\"\n"))}, "bad.conf:2: TOML syntax error: expected value but found '=' instead"},
		{"unknown alias", []string{sample, "--truststore", truststore, "--truststore-password", "ts-pass", "--out-dir", t.TempDir()},
			`jwtTokenConfig[1].certificateAlias: JKS ` + truststore + `: unknown alias "idp_cert" (it holds: apikey_signer)`},
		{"wrong keystore password", []string{sample, "--keystore", keystore, "--keystore-password", "nope"}, "--keystore: PKCS#12 keystore " + keystore + ": wrong password"},
		{"wrong trust store password", []string{sample, "--truststore", truststore, "--truststore-password", "nope"}, "--truststore: JKS keystore " + truststore + ": wrong password"},
		{"unreadable file", []string{filepath.Join(t.TempDir(), "micro-gw.conf")}, "micro-gw.conf: no such file or directory"},
		{"unknown kind of file", []string{writeFile(t, "other.toml", []byte("[something]\nx = 1\n"))}, "unknown kind of file: neither a micro-gw.conf"},
		{"not a keystore", []string{sample, "--keystore", sample}, "not a JKS or PKCS#12 keystore"},
		{"a password without its store", []string{sample, "--keystore-password", "x"}, "--keystore-password needs --keystore"},
		{"no file", nil, "accepts 1 arg(s), received 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := testcaddy.Command(t, nil, append([]string{"backend-jwt", "convert"}, tc.args...)...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q, want %q", stderr, tc.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one: %q", n+1, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}
