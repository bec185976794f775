package caddyfile_test

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// hostileCase is one hostile request: its Authorization headers (or, for
// bytes net/http will not send, a raw header block) and the fault code it
// must be answered with (401 in every case).
type hostileCase struct {
	name string
	// headers are request header pairs, sent with net/http.
	headers []string
	// raw, when set, is sent as the request's header lines over a plain TCP
	// connection instead of headers.
	raw string
	// code is the expected fault code: 900901 unless set.
	code int
}

// attackerKeys are an RSA key no issuer trusts, its JWK (public half, kid
// "attacker") and its certificate's DER in base64, for headers that try to
// bring their own key.
type attackerKeys struct {
	key  *rsa.PrivateKey
	jwk  map[string]any
	x5c  string
	jwks *testkit.JWKSServer
}

// newAttacker makes an attacker key and starts a JWKS server on 127.0.0.1
// publishing it, which the gateway must never fetch.
func newAttacker(t *testing.T) *attackerKeys {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(testkit.CertificatePEM(t, key, "attacker"))
	return &attackerKeys{
		key: key,
		jwk: map[string]any{"kty": "RSA", "kid": "attacker", "alg": "RS256", "use": "sig",
			"n": testkit.B64(key.N.Bytes()), "e": testkit.B64(big.NewInt(int64(key.E)).Bytes())},
		x5c:  base64.StdEncoding.EncodeToString(block.Bytes),
		jwks: testkit.NewJWKSServer(t, testkit.JWK{KID: "attacker", Alg: "RS256", Key: key}),
	}
}

// hostileTokens returns the hostile-token table for the standard site:
// every case must be refused with 401 and a fault, never reach the
// upstream, never echo the token and never make the gateway fetch the
// attacker's JWKS. Unless the case is about the signature, the token is
// signed with the key the issuer trusts, so the hostile part alone is what
// must make it fail.
func hostileTokens(t *testing.T, s *standardSite, a *attackerKeys) []hostileCase {
	k := testkit.Keys()
	good := accessClaims(wso2Issuer)
	n := time.Now().Unix()
	signed := func(header, claims any) string { return testkit.Sign(t, "RS256", k.RSA, header, claims) }
	valid := signed(hdr("RS256", "rsa"), good)
	parts := strings.Split(valid, ".")
	h, p, sig := parts[0], parts[1], parts[2]
	// rawPayload is the JSON of claims with its last "}" replaced by more.
	rawPayload := func(claims map[string]any, more string) []byte {
		b := testkit.MustJSON(t, claims)
		return append(b[:len(b)-1], more...)
	}
	withHeader := func(more map[string]any) map[string]any {
		m := hdr("RS256", "rsa")
		for name, v := range more {
			m[name] = v
		}
		return m
	}
	pubPEM := testkit.PublicKeyPEM(t, k.RSA)
	certPEM, err := os.ReadFile(s.certFile)
	if err != nil {
		t.Fatal(err)
	}
	// A header that encodes to the standard alphabet's '/' wherever it
	// falls: five '?' hold a whole base64 group, "Pz8/".
	stdHeader := []byte(`{"alg":"RS256","kid":"rsa","typ":"JWT","x":"?????"}`)
	stdToken := signed(stdHeader, good)
	stdParts := strings.Split(stdToken, ".")
	stdEncoded := base64.RawStdEncoding.EncodeToString(stdHeader) + "." + stdParts[1] + "." + stdParts[2]
	if !strings.ContainsAny(stdEncoded, "+/") {
		t.Fatalf("the standard-alphabet token %q holds neither '+' nor '/'", stdEncoded)
	}
	// A payload part whose length no base64 encoding can have.
	badLength := p + "A"
	for len(badLength)%4 != 1 {
		badLength += "A"
	}
	// A header in padded base64url, signed as transmitted, so the padding
	// is the only fault.
	paddedHeader := base64.URLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"rsa","x":12}`))
	if !strings.HasSuffix(paddedHeader, "=") {
		t.Fatalf("the padded header %q has no padding", paddedHeader)
	}
	paddedToken := paddedHeader + "." + p + "." + testkit.B64(testkit.Signature(t, "RS256", k.RSA, []byte(paddedHeader+"."+p)))
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)

	return []hostileCase{
		// alg none and HMAC, whatever the key set says.
		{name: "alg none", headers: bearer(testkit.Sign(t, "none", nil, hdr("none", "rsa"), good))},
		{name: "alg None", headers: bearer(testkit.Sign(t, "none", nil, hdr("None", "rsa"), good))},
		{name: "alg NONE", headers: bearer(testkit.Sign(t, "none", nil, hdr("NONE", "rsa"), good))},
		{name: "alg none with a valid RS256 signature", headers: bearer(signed(hdr("none", "rsa"), good))},
		{name: "HS256 keyed with the issuer's public key PEM", headers: bearer(testkit.Sign(t, "HS256", pubPEM, hdr("HS256", "rsa"), good))},
		{name: "HS384 keyed with the issuer's public key PEM", headers: bearer(testkit.Sign(t, "HS384", pubPEM, hdr("HS384", "rsa"), good))},
		{name: "HS512 keyed with the issuer's public key PEM", headers: bearer(testkit.Sign(t, "HS512", pubPEM, hdr("HS512", "rsa"), good))},
		{name: "HS256 keyed with the certificate issuer's PEM", headers: bearer(testkit.Sign(t, "HS256", certPEM, hdr("HS256", ""),
			with(accessClaims(certIssuer), map[string]any{"aud": "gw"})))},
		{name: "RSA signature claiming ES256 with the RSA kid", headers: bearer(signed(hdr("ES256", "rsa"), good))},
		{name: "RSA signature claiming ES256 with the P-256 kid", headers: bearer(signed(hdr("ES256", "p256"), good))},

		// kid, jku, x5u, jwk, x5c: never a way to choose or bring a key.
		{name: "kid with path traversal", headers: bearer(signed(hdr("RS256", "../../etc/passwd"), good))},
		{name: "kid of 10 KB (over max_token_size 4KiB)", headers: bearer(signed(hdr("RS256", strings.Repeat("k", 10<<10)), good))},
		{name: "jku to the attacker's JWKS, attacker kid and key", headers: bearer(testkit.Sign(t, "RS256", a.key,
			map[string]any{"alg": "RS256", "kid": "attacker", "jku": a.jwks.URL}, good))},
		{name: "jku to the attacker's JWKS, the issuer's kid", headers: bearer(testkit.Sign(t, "RS256", a.key,
			map[string]any{"alg": "RS256", "kid": "rsa", "jku": a.jwks.URL}, good))},
		{name: "x5u to the attacker's server", headers: bearer(testkit.Sign(t, "RS256", a.key,
			map[string]any{"alg": "RS256", "kid": "attacker", "x5u": a.jwks.URL + "/cert.pem"}, good))},
		{name: "jwk header embedding the attacker key that signed it", headers: bearer(testkit.Sign(t, "RS256", a.key,
			map[string]any{"alg": "RS256", "kid": "attacker", "jwk": a.jwk}, good))},
		{name: "jwk header without kid on the certificate issuer", headers: bearer(testkit.Sign(t, "RS256", a.key,
			map[string]any{"alg": "RS256", "jwk": a.jwk}, with(accessClaims(certIssuer), map[string]any{"aud": "gw"})))},
		{name: "x5c header with the attacker's certificate", headers: bearer(testkit.Sign(t, "RS256", a.key,
			map[string]any{"alg": "RS256", "x5c": []string{a.x5c}}, with(accessClaims(certIssuer), map[string]any{"aud": "gw"})))},

		// Header members outside the profile.
		{name: "unknown crit header", headers: bearer(signed(withHeader(map[string]any{"crit": []string{"x-unknown"}, "x-unknown": true}), good))},
		{name: "nested JWT (cty JWT)", headers: bearer(signed(withHeader(map[string]any{"cty": "JWT"}), []byte(valid)))},

		// Structure and encoding.
		{name: "JWE, five parts", headers: bearer(testkit.B64([]byte(`{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"rsa"}`)) + ".ZWs.aXY.Y3Q.dGFn")},
		{name: "two parts", headers: bearer(h + "." + p)},
		{name: "four parts", headers: bearer(valid + "." + sig)},
		{name: "empty signature", headers: bearer(h + "." + p + ".")},
		{name: "bad base64 character", headers: bearer(h + "." + p[:8] + "*" + p[9:] + "." + sig)},
		{name: "impossible base64 length", headers: bearer(h + "." + badLength + "." + sig)},
		{name: "padding =", headers: bearer(valid + "=")},
		{name: "padding ==", headers: bearer(valid + "==")},
		{name: "padded header", headers: bearer(paddedToken)},
		{name: "standard alphabet + and /", headers: bearer(stdEncoded)},
		{name: "header not JSON", headers: bearer(signed([]byte(`alg=RS256,kid=rsa`), good))},
		{name: "header a JSON array", headers: bearer(signed([]byte(`[{"alg":"RS256","kid":"rsa"}]`), good))},
		{name: "duplicate header member", headers: bearer(signed([]byte(`{"alg":"RS256","kid":"rsa","kid":"p256"}`), good))},
		{name: "duplicate claim", headers: bearer(signed(hdr("RS256", "rsa"), rawPayload(good, `,"sub":"root"}`)))},
		{name: "duplicate claim after unescaping", headers: bearer(signed(hdr("RS256", "rsa"), rawPayload(good, `,"\u0073ub":"root"}`)))},

		// Registered claims of the wrong type or range.
		{name: "exp as a string", headers: bearer(signed(hdr("RS256", "rsa"), with(good, map[string]any{"exp": fmt.Sprint(n + 3600)})))},
		{name: "exp as a float", headers: bearer(signed(hdr("RS256", "rsa"), with(good, map[string]any{"exp": float64(n) + 3600.5})))},
		{name: "exp with an exponent", headers: bearer(signed(hdr("RS256", "rsa"), rawPayload(with(good, map[string]any{"exp": nil}), fmt.Sprintf(`,"exp":%de0}`, n+3600))))},
		{name: "exp a huge number", headers: bearer(signed(hdr("RS256", "rsa"), rawPayload(with(good, map[string]any{"exp": nil}), `,"exp":1`+strings.Repeat("0", 40)+`}`)))},
		{name: "exp beyond the year 9999", headers: bearer(signed(hdr("RS256", "rsa"), with(good, map[string]any{"exp": int64(253402300800)})))},
		{name: "exp negative", headers: bearer(signed(hdr("RS256", "rsa"), with(good, map[string]any{"exp": -1})))},
		{name: "exp absent", headers: bearer(signed(hdr("RS256", "rsa"), with(good, map[string]any{"exp": nil})))},
		{name: "nbf far in the future", headers: bearer(signed(hdr("RS256", "rsa"), with(good, map[string]any{"nbf": n + 10*365*86400})))},
		{name: "iss as an array", headers: bearer(signed(hdr("RS256", "rsa"), with(good, map[string]any{"iss": []string{wso2Issuer}})))},
		{name: "aud as a number", headers: bearer(signed(hdr("RS256", "rsa"), with(good, map[string]any{"aud": 42})))},
		{name: "sub as an object", headers: bearer(signed(hdr("RS256", "rsa"), with(good, map[string]any{"sub": map[string]any{"user": "admin"}})))},

		// JSON and text the strict parser refuses.
		{name: "deep JSON nesting in the payload", headers: bearer(signed(hdr("RS256", "rsa"), rawPayload(good, `,"deep":`+deep+`}`)))},
		{name: "deep JSON nesting in the header", headers: bearer(signed([]byte(`{"alg":"RS256","kid":"rsa","x":`+deep+`}`), good))},
		{name: "invalid UTF-8 in the payload", headers: bearer(signed(hdr("RS256", "rsa"), rawPayload(good, ",\"name\":\"\xff\xfe\"}")))},
		{name: "invalid UTF-8 bytes in the Authorization header", headers: []string{"Authorization", "Bearer " + h + "." + p + "\xff\xfe." + sig}},
		{name: "lone surrogate escape", headers: bearer(signed(hdr("RS256", "rsa"), rawPayload(good, `,"name":"\ud800"}`)))},
		{name: "space inside the token", headers: bearer(h + "." + p[:20] + " " + p[20:] + "." + sig)},
		{name: "tab inside the token", headers: bearer(h + "." + p + "\t." + sig)},
		{name: "folded line (CRLF and space) inside the token", raw: "Authorization: Bearer " + h + "." + p + "\r\n ." + sig + "\r\n"},

		// The Authorization header itself.
		{name: "several Authorization headers", headers: append(bearer(valid), bearer(valid)...)},
		{name: "several Authorization headers, the second empty", headers: append(bearer(valid), "Authorization", "")},
		{name: "Bearer with two tokens", headers: []string{"Authorization", "Bearer " + valid + " " + valid}},
		{name: "a tab instead of the space after Bearer (not a Bearer credential)", headers: []string{"Authorization", "Bearer\t" + valid}, code: 900902},
		{name: "the token under the Basic scheme", headers: []string{"Authorization", "Basic " + valid}, code: 900902},
		{name: "token over max_token_size", headers: bearer(signed(hdr("RS256", "rsa"), with(good, map[string]any{"pad": strings.Repeat("x", 5000)})))},
	}
}

func TestHostileTokens(t *testing.T) {
	s := newStandardSite(t)
	a := newAttacker(t)
	tests := hostileTokens(t, s, a)
	if len(tests) < 40 {
		t.Fatalf("%d hostile cases, want at least 40", len(tests))
	}
	issuerFetches := s.jwks.Fetches.Load()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.upstream.Count()
			var r testcaddy.Response
			if tc.raw != "" {
				r = rawGet(t, s.g, "/pizza", tc.raw)
			} else {
				r = s.g.Get("/pizza", tc.headers...)
			}
			code := tc.code
			if code == 0 {
				code = 900901
			}
			wantFault(t, r, http.StatusUnauthorized, code)
			if s.upstream.Count() != before {
				t.Fatal("a hostile request reached the upstream")
			}
			if n := a.jwks.Fetches.Load(); n != 0 {
				t.Fatalf("the gateway fetched the attacker's JWKS %d times", n)
			}
			challenge := r.Header.Get("WWW-Authenticate")
			realm := fmt.Sprintf(`Bearer realm="127.0.0.1:%d"`, s.g.Port)
			switch want := realm + `, error="invalid_token", error_description="`; {
			case code == 900901 && !strings.HasPrefix(challenge, want):
				t.Fatalf("challenge %q, want one starting %q", challenge, want)
			case code == 900902 && challenge != realm:
				t.Fatalf("challenge %q, want %q", challenge, realm)
			}
			for _, token := range tokensOf(tc) {
				if echoes(r, token) {
					t.Fatal("the answer echoes the token")
				}
			}
		})
	}
	// A 100 KB kid is over Caddy's default max_header_size (16 KiB): Caddy
	// answers 431 before any handler runs (SPEC section 5, step 4).
	t.Run("kid of 100 KB (over max_header_size)", func(t *testing.T) {
		token := testkit.Sign(t, "RS256", testkit.Keys().RSA, hdr("RS256", strings.Repeat("k", 100<<10)), accessClaims(wso2Issuer))
		before := s.upstream.Count()
		r := s.g.Get("/pizza", bearer(token)...)
		if r.Status != http.StatusRequestHeaderFieldsTooLarge || s.upstream.Count() != before || echoes(r, token[:64]) {
			t.Fatalf("status %d, body %.100q, upstream reached %v", r.Status, r.Body, s.upstream.Count() != before)
		}
	})
	// Hostile kids may make the issuer's JWKS be refetched, but at most
	// once per jwks_min_refresh (30s by default).
	if extra := s.jwks.Fetches.Load() - issuerFetches; extra > 1 {
		t.Fatalf("the hostile tokens caused %d fetches of the issuer's JWKS, want at most 1", extra)
	}
	logs := s.g.Logs()
	for _, tc := range tests {
		for _, token := range tokensOf(tc) {
			if strings.Contains(logs, token) {
				t.Fatalf("the log holds the token of %q", tc.name)
			}
		}
	}
}

// TestHostileLargeKid sends tokens with a 100 KB kid to a gateway whose
// max_header_size and max_token_size admit them, so that they reach the
// strict parser and the key lookup rather than a size check: each is
// refused as an unknown kid, with at most one refetch of the issuer's
// JWKS. (Under Caddy's default max_header_size of 16 KiB, Caddy itself
// answers 431 before any handler runs; TestHostileTokens checks that.)
func TestHostileLargeKid(t *testing.T) {
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	up := testkit.NewUpstream(t)
	g := newGateway(t)
	caddyfile := g.Caddyfile(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		max_token_size 256KiB
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, up.Listener.Addr()))
	caddyfile = strings.Replace(caddyfile, "\tauto_https off\n", "\tauto_https off\n\tservers {\n\t\tmax_header_size 512KiB\n\t}\n", 1)
	g.StartCaddyfile(caddyfile)
	testkit.WaitFor(t, "the first JWKS fetch", func() bool { return jwks.Fetches.Load() == 1 })
	for _, tc := range []struct {
		name string
		kid  string
	}{
		{"100 KB of letters", strings.Repeat("k", 100<<10)},
		{"100 KB of path traversal", strings.Repeat("../", 100<<10/3)},
		{"100 KB of escapes", strings.Repeat(`\u0000`, 100<<10/6)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := testkit.Sign(t, "RS256", k.RSA, []byte(`{"alg":"RS256","kid":"`+tc.kid+`"}`), accessClaims(wso2Issuer))
			if len(token) > 256<<10 || len(token) < 100<<10 {
				t.Fatalf("token of %d bytes", len(token))
			}
			r := g.Get("/", bearer(token)...)
			wantFault(t, r, http.StatusUnauthorized, 900901)
			if up.Count() != 0 {
				t.Fatal("the token reached the upstream")
			}
			if echoes(r, token) || echoes(r, tc.kid[:64]) {
				t.Fatal("the answer echoes the token or its kid")
			}
		})
	}
	if extra := jwks.Fetches.Load() - 1; extra > 1 {
		t.Fatalf("large unknown kids caused %d extra JWKS fetches, want at most 1", extra)
	}
	logs := g.Logs()
	if !strings.Contains(logs, "unknown kid") {
		t.Fatal("the large kids were not refused as unknown kids")
	}
	if strings.Contains(logs, strings.Repeat("k", 1000)) {
		t.Fatal("the log holds the 100 KB kid")
	}
}

// tokensOf returns the tokens a case sends: each Authorization value
// without its scheme, and each of its dot-separated parts longer than 16
// bytes, none of which an answer or a log line may hold.
func tokensOf(tc hostileCase) []string {
	var values []string
	for i := 0; i+1 < len(tc.headers); i += 2 {
		values = append(values, tc.headers[i+1])
	}
	if tc.raw != "" {
		values = append(values, strings.TrimSpace(strings.SplitN(tc.raw, "\r\n", 2)[0]))
	}
	var tokens []string
	for _, v := range values {
		v = strings.TrimPrefix(strings.TrimPrefix(v, "Authorization: "), "Bearer ")
		if len(v) > 16 {
			tokens = append(tokens, v)
		}
		for _, part := range strings.Split(v, ".") {
			if len(part) > 16 {
				tokens = append(tokens, part)
			}
		}
	}
	return tokens
}

// echoes reports whether the answer's body or any header value holds token.
func echoes(r testcaddy.Response, token string) bool {
	if strings.Contains(r.Body, token) {
		return true
	}
	for _, values := range r.Header {
		for _, v := range values {
			if strings.Contains(v, token) {
				return true
			}
		}
	}
	return false
}

// rawGet sends GET path to the gateway over a plain TCP connection with
// the given header lines (each ending in CRLF), for bytes that net/http
// refuses to send, and reads the answer.
func rawGet(t *testing.T, g *gateway, path, headerLines string) testcaddy.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", g.Port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n", path, g.Port, headerLines)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return testcaddy.Response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}
