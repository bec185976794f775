package jwtgen

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The two API Manager 3.2+ access tokens of the golden tests: a user's and
// an application's (aut APPLICATION), neither with an application object
// nor subscribedAPIs.
const (
	apimUserToken = `{
  "sub": "admin",
  "aut": "APPLICATION_USER",
  "aud": "Rx5Xh8rSmmJfS3tJPfTBd0CIb2Ia",
  "nbf": 1700000000,
  "azp": "Rx5Xh8rSmmJfS3tJPfTBd0CIb2Ia",
  "scope": "default",
  "iss": "https://localhost:9443/oauth2/token",
  "exp": 1700003600,
  "iat": 1700000000,
  "jti": "b5c3f0e4-8d2a-4e7b-9a61-3c2d1e0f9a8b",
  "client_id": "Rx5Xh8rSmmJfS3tJPfTBd0CIb2Ia"
}`
	apimApplicationToken = `{
  "sub": "alice",
  "aut": "APPLICATION",
  "aud": "kX2mN8pQ4rS6tU0vW2xY4zA6bC8d",
  "nbf": 1700000000,
  "azp": "kX2mN8pQ4rS6tU0vW2xY4zA6bC8d",
  "scope": "default",
  "iss": "https://localhost:9443/oauth2/token",
  "exp": 1700000660,
  "iat": 1700000000,
  "jti": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
  "client_id": "kX2mN8pQ4rS6tU0vW2xY4zA6bC8d"
}`
)

// TestGolden generates the backend JWT of each golden input with the
// defaults of generate (no audience) and compares its claim set, names,
// JSON types and values, with the fixture in testdata/golden, which is
// written from WSO2's sources (each claim's source in its comments).
func TestGolden(t *testing.T) {
	apimNow := time.Unix(1700000060, 0)
	for _, tc := range []struct {
		name    string
		fixture string
		input   func(t *testing.T) *Input
	}{
		{
			name:    "worked example (API Manager 3.x token)",
			fixture: "wso2-access-token.jsonc",
			input: func(t *testing.T) *Input {
				return exampleInput(t, time.Unix(1595447942+60, 0))
			},
		},
		{
			name:    "API Manager 3.2+ user token with API Manager's data",
			fixture: "apim-user-token.jsonc",
			input: func(t *testing.T) *Input {
				return &Input{
					Claims:                rawClaims(t, apimUserToken),
					API:                   &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"},
					Application:           &Application{ID: 3, UUID: "8d9a6c1e-2b3f-4a5d-8e7f-6a5b4c3d2e1f", Name: "PizzaApp", Subscriber: "admin", Tier: "Unlimited"},
					Subscription:          &Subscription{Tier: "Gold", TenantDomain: "carbon.super"},
					KeyType:               "PRODUCTION",
					TenantID:              "-1234",
					ApplicationAttributes: json.RawMessage(`{"department":"sales"}`),
					SubscriberTenant:      "carbon.super",
					Now:                   apimNow,
					NotAfter:              time.Unix(1700003600, 0),
				}
			},
		},
		{
			name:    "API Manager 3.2+ application token with API Manager's data",
			fixture: "apim-application-token.jsonc",
			input: func(t *testing.T) *Input {
				return &Input{
					Claims:                rawClaims(t, apimApplicationToken),
					API:                   &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"},
					Application:           &Application{ID: 7, UUID: "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", Name: "Billing", Subscriber: "alice", Tier: "50PerMin"},
					Subscription:          &Subscription{Tier: "Silver", TenantDomain: "carbon.super"},
					KeyType:               "SANDBOX",
					TenantID:              "-1234",
					ApplicationAttributes: json.RawMessage(`{"tier":"internal","team":"ops"}`),
					SubscriberTenant:      "carbon.super",
					Now:                   apimNow,
					NotAfter:              time.Unix(1700000660, 0),
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig(ES256)
			cfg.Audience = nil // the defaults of generate: no aud
			g := mustNew(t, cfg)
			d := decode(t, mustGenerate(t, g, tc.input(t)), EncodingBase64URL)
			want := readGolden(t, tc.fixture)
			if jti, _ := d.claims["jti"].(string); want["jti"] == "<uuid-v4>" && uuidV4.MatchString(jti) {
				want["jti"] = jti
			}
			names := slices.Collect(maps.Keys(want))
			for k := range d.claims {
				if _, ok := want[k]; !ok {
					names = append(names, k)
				}
			}
			slices.Sort(names)
			for _, name := range names {
				got, inGot := d.claims[name]
				w, inWant := want[name]
				switch {
				case !inWant:
					t.Errorf("%s = %#v: not in the fixture", name, got)
				case !inGot:
					t.Errorf("%s missing, want %#v", name, w)
				case !reflect.DeepEqual(got, w):
					t.Errorf("%s = %#v (%T), want %#v (%T)", name, got, got, w, w)
				}
			}
		})
	}
}

// readGolden reads a fixture of testdata/golden: JSON with whole-line "//"
// comments, numbers as json.Number.
func readGolden(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(strings.TrimSpace(line), "//") {
			kept = append(kept, line)
		}
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(strings.Join(kept, ""))))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return claims
}
