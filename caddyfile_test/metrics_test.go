package caddyfile_test

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// scrape reads the admin endpoint's /metrics into "name{labels}" → value,
// for this module's metrics.
func scrape(t *testing.T, g *gateway) map[string]float64 {
	t.Helper()
	status, body, err := g.Admin(http.MethodGet, "/metrics", "", nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", status, err)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "caddy_backend_jwt_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

func TestMetrics(t *testing.T) {
	km := newKeyManager(t)
	s := newClaimsSite(t, km, "")
	before := scrape(t, s.g)

	first := tokenFor(t, wso2Issuer, "frank@carbon.super")
	second := tokenFor(t, wso2Issuer, "frank@carbon.super")
	for _, token := range []string{first, first, second} {
		if r := s.g.Get("/", bearer(token)...); r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
	}
	s.g.Get("/")
	s.g.Get("/", bearer("not.a.token")...)
	km.setAnswer(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) })
	if r := s.g.Get("/", bearer(tokenFor(t, wso2Issuer, "grace@carbon.super"))...); r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}

	after := scrape(t, s.g)
	delta := func(name string) float64 { return after[name] - before[name] }
	tests := []struct {
		metric string
		want   float64
	}{
		{`caddy_backend_jwt_requests_total{outcome="ok"}`, 4},
		{`caddy_backend_jwt_requests_total{outcome="900902"}`, 1},
		{`caddy_backend_jwt_requests_total{outcome="900901"}`, 1},
		{`caddy_backend_jwt_cache_lookups_total{cache="validation",result="miss"}`, 4}, // first, second, grace, and the malformed one
		{`caddy_backend_jwt_cache_lookups_total{cache="validation",result="hit"}`, 1},
		{`caddy_backend_jwt_cache_lookups_total{cache="generation",result="miss"}`, 3},
		{`caddy_backend_jwt_cache_lookups_total{cache="generation",result="hit"}`, 1},
		{`caddy_backend_jwt_cache_lookups_total{cache="claims",result="miss"}`, 2},
		{`caddy_backend_jwt_cache_lookups_total{cache="claims",result="hit"}`, 1},
		{`caddy_backend_jwt_generation_seconds_count`, 3},
		{`caddy_backend_jwt_claims_retrieval_seconds_count`, 2},
		{`caddy_backend_jwt_claims_retrieval_errors_total`, 1},
	}
	for _, tc := range tests {
		if got := delta(tc.metric); got != tc.want {
			t.Errorf("%s moved by %v, want %v", tc.metric, got, tc.want)
		}
	}
	fetches := 0.0
	for name, v := range after {
		if strings.HasPrefix(name, `caddy_backend_jwt_jwks_fetches_total{issuer="`+wso2Issuer+`",result="ok"}`) {
			fetches += v
		}
	}
	if fetches < 1 {
		t.Errorf("no successful JWKS fetch of %s counted", wso2Issuer)
	}
}

// TestDebugLog checks the per-request DEBUG lines: the outcome, issuer,
// sub, jti, cache use and time; the generated claims; never a token.
func TestDebugLog(t *testing.T) {
	s := newGenerateSite(t, "")
	token := testkit.AccessToken(t, wso2Issuer, nil)
	backend := s.backendJWT(t, "/pizza", token)
	logs := s.g.Logs()
	for _, want := range []string{
		`"msg":"request authenticated","issuer":"` + wso2Issuer + `","sub":"admin@carbon.super","jti":"0987c6d3-f11a-402c-8eb2-b21fb7b97f4d","validation_cached":false,"backend_jwt":true,"duration":`,
		`"msg":"backend JWT generated"`,
		`"claims":{"iss":"wso2.org/products/am"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	for _, secret := range []string{token, backend, strings.Split(backend, ".")[2]} {
		if strings.Contains(logs, secret) {
			t.Error("the log holds a token or a signature")
		}
	}
}
