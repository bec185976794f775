package jwtgen

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestWSO2Example reproduces examples/wso2-access-token.md: every claim of
// the backend JWT (no aud: none is configured), the header, and exp =
// min(T + 900, the access token's exp).
func TestWSO2Example(t *testing.T) {
	key := keyFor(RS256)
	cert := newCert(t, "backend-jwt", key, nil, nil)
	cfg := defaultConfig(RS256)
	cfg.Audience = nil
	cfg.Certificates = []*x509.Certificate{cert}
	g := mustNew(t, cfg)

	for _, tc := range []struct {
		name    string
		now     int64
		wantExp int64
	}{
		{name: "lifetime", now: 1595447942 + 60, wantExp: 1595447942 + 60 + 900},
		{name: "capped by the access token's exp", now: exampleExp - 300, wantExp: exampleExp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, expires, err := g.Generate(exampleInput(t, time.Unix(tc.now, 0)))
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, tok, EncodingBase64URL)

			wantHeader := map[string]any{
				"typ": "JWT",
				"alg": "RS256",
				"kid": testThumbprint(t, key.Public()),
				"x5t": hexSHA1Base64URLPadded(cert.Raw),
			}
			if !reflect.DeepEqual(d.header, wantHeader) {
				t.Errorf("header = %v\nwant %v", d.header, wantHeader)
			}

			jti, _ := d.claims["jti"].(string)
			if !uuidV4.MatchString(jti) {
				t.Errorf("jti %q is not a version 4 UUID", jti)
			}
			want := map[string]any{
				"iss":                                        "wso2.org/products/am",
				"jti":                                        jti,
				"iat":                                        json.Number(itoa(tc.now)),
				"exp":                                        json.Number(itoa(tc.wantExp)),
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
			if !reflect.DeepEqual(d.claims, want) {
				t.Errorf("claims differ:\n got %v\nwant %v", d.claims, want)
				for k := range maps.Keys(want) {
					if !reflect.DeepEqual(d.claims[k], want[k]) {
						t.Errorf("  %s: got %#v, want %#v", k, d.claims[k], want[k])
					}
				}
				for k := range maps.Keys(d.claims) {
					if _, ok := want[k]; !ok {
						t.Errorf("  unexpected %s", k)
					}
				}
			}
			if expires.Unix() != tc.wantExp {
				t.Errorf("expires = %d, want %d", expires.Unix(), tc.wantExp)
			}
			if err := verifyStd(RS256, key.Public(), d.signingInput, d.sig); err != nil {
				t.Errorf("signature: %v", err)
			}
			// The application id is a JSON string, as WSO2 writes it.
			if !strings.Contains(string(d.payload), `"http://wso2.org/claims/applicationid":"1",`) {
				t.Errorf("applicationid not the string \"1\" in %s", d.payload)
			}
		})
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// TestStandardClaims checks every row of the SPEC section 6 table, with the
// input that turns the row on or off.
func TestStandardClaims(t *testing.T) {
	const D = "http://wso2.org/claims/"
	g := mustNew(t, defaultConfig(ES256))
	now := time.Unix(1595447942+10, 0)

	for _, tc := range []struct {
		name   string
		edit   func(in *Input)
		want   map[string]any // claims that must have these values
		absent []string       // claims that must be absent
	}{
		{
			name: "full example",
			want: map[string]any{
				"iss": DefaultIssuer, "aud": DefaultAudience,
				"sub": "admin@carbon.super", D + "enduser": "admin@carbon.super",
				D + "applicationid": "1", D + "applicationUUId": "3f1c4d2e-6a0b-4c5d-9e8f-7a6b5c4d3e2f",
				D + "subscriber": "admin", D + "applicationname": "DefaultApplication", D + "applicationtier": "Unlimited",
				D + "apiname": "PizzaShackAPI", D + "version": "1.0.0", D + "apicontext": "/pizzashack",
				D + "tier": "Gold", D + "enduserTenantDomain": "carbon.super",
				D + "keytype": "PRODUCTION", D + "usertype": "Application_User",
			},
		},
		{
			name:   "no sub",
			edit:   func(in *Input) { delete(in.Claims, "sub") },
			absent: []string{"sub", D + "enduser"},
			want:   map[string]any{"iss": DefaultIssuer, D + "usertype": "Application_User"},
		},
		{
			name: "application with only id and name",
			edit: func(in *Input) {
				in.Claims["application"] = json.RawMessage(`{"id":"app-7","name":"N","other":{"uuid":"x"}}`)
			},
			want:   map[string]any{D + "applicationid": "app-7", D + "applicationname": "N"},
			absent: []string{D + "applicationUUId", D + "subscriber", D + "applicationtier"},
		},
		{
			name: "application values keep their JSON form, but an id that is no string or number",
			edit: func(in *Input) {
				in.Claims["application"] = json.RawMessage(`{"id":{"n":[1,2]},"tier":null,"owner":"a\"b","uuid":true}`)
			},
			want: map[string]any{
				D + "applicationtier": nil, D + "subscriber": `a"b`, D + "applicationUUId": true,
			},
			absent: []string{D + "applicationid"},
		},
		{
			name:   "application not an object",
			edit:   func(in *Input) { in.Claims["application"] = json.RawMessage(`"DefaultApplication"`) },
			absent: []string{D + "applicationid", D + "applicationname", "application"},
		},
		{
			name:   "no application",
			edit:   func(in *Input) { delete(in.Claims, "application") },
			absent: []string{D + "applicationid", D + "applicationUUId", D + "subscriber", D + "applicationname", D + "applicationtier"},
		},
		{
			name: "application from API Manager's data (3.2+ token)",
			edit: func(in *Input) {
				delete(in.Claims, "application")
				delete(in.Claims, "keytype")
				in.Application = &Application{ID: 42, UUID: "u-42", Name: "App", Subscriber: "alice", Tier: "10PerMin"}
				in.KeyType = "SANDBOX"
			},
			want: map[string]any{
				D + "applicationid": "42", D + "applicationUUId": "u-42", D + "applicationname": "App",
				D + "subscriber": "alice", D + "applicationtier": "10PerMin", D + "keytype": "SANDBOX",
			},
		},
		{
			name: "the token's application and keytype win over the data",
			edit: func(in *Input) {
				in.Application = &Application{ID: 42, Name: "App"}
				in.KeyType = "SANDBOX"
			},
			want: map[string]any{D + "applicationid": "1", D + "applicationname": "DefaultApplication", D + "keytype": "PRODUCTION"},
		},
		{
			name:   "no api directive",
			edit:   func(in *Input) { in.API = nil },
			absent: []string{D + "apiname", D + "version", D + "apicontext"},
		},
		{
			name:   "no subscription",
			edit:   func(in *Input) { in.Subscription = nil },
			absent: []string{D + "tier", D + "enduserTenantDomain"},
		},
		{
			name: "keytype from the access token",
			edit: func(in *Input) { in.Claims["keytype"] = json.RawMessage(`"SANDBOX"`) },
			want: map[string]any{D + "keytype": "SANDBOX"},
		},
		{
			name: "keytype defaults to PRODUCTION",
			edit: func(in *Input) { delete(in.Claims, "keytype") },
			want: map[string]any{D + "keytype": "PRODUCTION"},
		},
		{
			name:   "empty access token",
			edit:   func(in *Input) { in.Claims = nil; in.API = nil; in.Subscription = nil },
			want:   map[string]any{"iss": DefaultIssuer, "aud": DefaultAudience, D + "keytype": "PRODUCTION", D + "usertype": "Application_User"},
			absent: []string{"sub", D + "enduser", D + "apiname", D + "tier", D + "applicationid"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := exampleInput(t, now)
			if tc.edit != nil {
				tc.edit(in)
			}
			d := decode(t, mustGenerate(t, g, in), EncodingBase64URL)
			for k, v := range tc.want {
				if got, ok := d.claims[k]; !ok || !reflect.DeepEqual(got, v) {
					t.Errorf("%s = %#v (present %v), want %#v", k, got, ok, v)
				}
			}
			for _, k := range tc.absent {
				if v, ok := d.claims[k]; ok {
					t.Errorf("%s present (%v), want absent", k, v)
				}
			}
			// Rows present in every token.
			if !uuidV4.MatchString(d.claims["jti"].(string)) {
				t.Errorf("jti %v is not a UUID", d.claims["jti"])
			}
			if iat := num(t, d.claims["iat"]); iat != now.Unix() {
				t.Errorf("iat = %d, want %d", iat, now.Unix())
			}
			if _, ok := d.claims["exp"]; !ok {
				t.Error("no exp")
			}
		})
	}
}

// TestClaimOrder checks the key order: the standard claims in the SPEC
// order, then the others sorted by name.
func TestClaimOrder(t *testing.T) {
	const D = "http://wso2.org/claims/"
	g := mustNew(t, defaultConfig(EdDSA))
	in := exampleInput(t, time.Unix(1595447942, 0))
	in.Claims["zeta"] = json.RawMessage(`1`)
	in.Claims["alpha"] = json.RawMessage(`2`)
	in.Retrieved = map[string]any{"middle": "m", "Zulu": "z"}
	d := decode(t, mustGenerate(t, g, in), EncodingBase64URL)
	want := []string{
		"iss", "aud", "jti", "iat", "exp", "sub", D + "enduser",
		D + "applicationid", D + "applicationUUId", D + "subscriber", D + "applicationname", D + "applicationtier",
		D + "apiname", D + "version", D + "apicontext", D + "tier", D + "enduserTenantDomain",
		D + "keytype", D + "usertype",
		"Zulu", "alpha", "azp", "middle", "scope", "zeta",
	}
	if got := payloadKeys(t, d.payload); !slices.Equal(got, want) {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}
}

// TestRestrictedClaims checks that no restricted claim is copied from the
// access token or from the retrieved claims.
func TestRestrictedClaims(t *testing.T) {
	const marker = "copied-marker"
	restricted := append(DefaultRestrictedClaims(), "secret", "http://wso2.org/claims/givenname")
	cfg := defaultConfig(ES256)
	cfg.RestrictedClaims = []string{"secret", "http://wso2.org/claims/givenname"}
	g := mustNew(t, cfg)

	for _, name := range restricted {
		for _, source := range []string{"access token", "retrieved"} {
			t.Run(source+"/"+name, func(t *testing.T) {
				in := &Input{Now: time.Now(), Claims: map[string]json.RawMessage{}}
				if source == "access token" {
					in.Claims[name] = json.RawMessage(`"` + marker + `"`)
				} else {
					in.Retrieved = map[string]any{name: marker}
				}
				d := decode(t, mustGenerate(t, g, in), EncodingBase64URL)
				// The access token's sub and keytype feed standard claims;
				// that is a use, not a copy.
				var uses []string
				if source == "access token" {
					switch name {
					case "sub":
						uses = []string{"sub", "http://wso2.org/claims/enduser"}
					case "keytype":
						uses = []string{"http://wso2.org/claims/keytype"}
					}
				}
				for _, u := range uses {
					if d.claims[u] != marker {
						t.Errorf("%s = %v, want the access token's %s", u, d.claims[u], name)
					}
					delete(d.claims, u)
				}
				for k, v := range d.claims {
					if v == marker {
						t.Errorf("%s was copied into %s", name, k)
					}
				}
				switch name {
				case "iss", "aud", "jti", "iat", "exp":
					if _, ok := d.claims[name]; !ok {
						t.Errorf("standard %s missing", name)
					}
				case "sub":
				default:
					if v, ok := d.claims[name]; ok {
						t.Errorf("%s present: %v", name, v)
					}
				}
			})
		}
	}
}

// TestNoOverwrite checks that copied and retrieved claims never replace a
// standard claim nor take the name of one the input leaves unset (security
// invariant 5), and that a retrieved claim replaces a copied one of the
// same name (MGW's order).
func TestNoOverwrite(t *testing.T) {
	const D = "http://wso2.org/claims/"
	g := mustNew(t, defaultConfig(ES256))
	now := time.Unix(1595447942, 0)
	for _, tc := range []struct {
		name      string
		retrieved map[string]any
		copied    map[string]string // extra access-token claims (raw JSON)
		claim     string
		want      any
	}{
		{name: "retrieved iss", retrieved: map[string]any{"iss": "evil"}, claim: "iss", want: DefaultIssuer},
		{name: "retrieved exp", retrieved: map[string]any{"exp": 99999999999}, claim: "exp", want: json.Number(itoa(now.Unix() + 900))},
		{name: "retrieved sub", retrieved: map[string]any{"sub": "root"}, claim: "sub", want: "admin@carbon.super"},
		{name: "retrieved iat", retrieved: map[string]any{"iat": 1}, claim: "iat", want: json.Number(itoa(now.Unix()))},
		{name: "retrieved jti", retrieved: map[string]any{"jti": "fixed"}, claim: "jti", want: nil},
		{name: "retrieved enduser", retrieved: map[string]any{D + "enduser": "root"}, claim: D + "enduser", want: "admin@carbon.super"},
		{name: "retrieved keytype", retrieved: map[string]any{D + "keytype": "SANDBOX"}, claim: D + "keytype", want: "PRODUCTION"},
		{name: "retrieved apiname", retrieved: map[string]any{D + "apiname": "Other"}, claim: D + "apiname", want: "PizzaShackAPI"},
		{name: "retrieved usertype", retrieved: map[string]any{D + "usertype": "Admin"}, claim: D + "usertype", want: "Application_User"},
		{name: "copied dialect tier", copied: map[string]string{D + "tier": `"Unlimited"`}, claim: D + "tier", want: "Gold"},
		{name: "copied dialect enduser", copied: map[string]string{D + "enduser": `"root"`}, claim: D + "enduser", want: "admin@carbon.super"},
		{name: "retrieved claim wins over copied", copied: map[string]string{"email": `"a@x"`}, retrieved: map[string]any{"email": "b@x"}, claim: "email", want: "b@x"},
		{name: "retrieved dialect claim wins over copied", copied: map[string]string{D + "givenname": `"Jon"`}, retrieved: map[string]any{D + "givenname": "John"}, claim: D + "givenname", want: "John"},
		{name: "copied kept when nothing is retrieved", copied: map[string]string{"email": `"a@x"`}, retrieved: map[string]any{"other": 1}, claim: "email", want: "a@x"},
		{name: "retrieved tenant id", retrieved: map[string]any{D + "enduserTenantId": "-1234"}, claim: D + "enduserTenantId", want: nil},
		{name: "copied application attributes", copied: map[string]string{D + "applicationAttributes": `{"a":"b"}`}, claim: D + "applicationAttributes", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := exampleInput(t, now)
			in.Retrieved = tc.retrieved
			for k, v := range tc.copied {
				in.Claims[k] = json.RawMessage(v)
			}
			d := decode(t, mustGenerate(t, g, in), EncodingBase64URL)
			got, present := d.claims[tc.claim]
			switch {
			case tc.claim == "jti": // fresh
				if s, _ := got.(string); !uuidV4.MatchString(s) {
					t.Errorf("%s = %v, want a fresh UUID", tc.claim, got)
				}
				return
			case tc.want == nil: // a standard claim the input does not set
				if present {
					t.Errorf("%s = %v, want absent (never copied)", tc.claim, got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %#v, want %#v", tc.claim, got, tc.want)
			}
			if n := strings.Count(string(d.payload), `"`+tc.claim+`":`); n != 1 {
				t.Errorf("%s appears %d times in %s", tc.claim, n, d.payload)
			}
		})
	}
}

// TestDialect checks the "/" rule.
func TestDialect(t *testing.T) {
	for _, tc := range []struct {
		name, dialect, want string
	}{
		{name: "default", dialect: DefaultDialect, want: "http://wso2.org/claims/enduser"},
		{name: "trailing slash", dialect: "http://wso2.org/claims/", want: "http://wso2.org/claims/enduser"},
		{name: "empty", dialect: "", want: "enduser"},
		{name: "urn", dialect: "urn:example:claims", want: "urn:example:claims/enduser"},
		{name: "only a slash", dialect: "/", want: "/enduser"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig(EdDSA)
			cfg.Dialect = tc.dialect
			var gotClaim, gotDialect, gotOther string
			cfg.Claims = funcGenerator{custom: func(in *Input, c *Claims) error {
				gotClaim, gotDialect, gotOther = c.DialectClaim("enduser"), c.Dialect(), c.DialectClaim("givenname")
				return WSO2Claims{}.CustomClaims(in, c)
			}}
			g := mustNew(t, cfg)
			in := exampleInput(t, time.Unix(1595447942, 0))
			in.TenantID, in.ApplicationAttributes = "-1234", json.RawMessage(`{"k":"v"}`)
			d := decode(t, mustGenerate(t, g, in), EncodingBase64URL)
			if d.claims[tc.want] != "admin@carbon.super" {
				t.Errorf("claim %q = %v; claims %v", tc.want, d.claims[tc.want], d.claims)
			}
			prefix := strings.TrimSuffix(tc.want, "enduser")
			for _, suffix := range dialectSuffixes { // the example sets every dialect claim
				if _, ok := d.claims[prefix+suffix]; !ok {
					t.Errorf("claim %q missing", prefix+suffix)
				}
			}
			if gotClaim != tc.want || gotDialect != tc.dialect || gotOther != prefix+"givenname" {
				t.Errorf("Claims: DialectClaim = %q, Dialect = %q, other = %q", gotClaim, gotDialect, gotOther)
			}
		})
	}
}

// TestAudience checks aud as absent, a string, or an array.
func TestAudience(t *testing.T) {
	for _, tc := range []struct {
		name     string
		audience []string
		want     any // nil: absent
	}{
		{name: "none", audience: nil, want: nil},
		{name: "one", audience: []string{"https://backend"}, want: "https://backend"},
		{name: "several", audience: []string{"a", "b", "c"}, want: []any{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig(EdDSA)
			cfg.Audience = tc.audience
			d := decode(t, mustGenerate(t, mustNew(t, cfg), exampleInput(t, time.Unix(1595447942, 0))), EncodingBase64URL)
			got, ok := d.claims["aud"]
			if tc.want == nil {
				if ok {
					t.Errorf("aud = %v, want absent", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("aud = %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestExpiry checks exp = iat + lifetime, capped by NotAfter, from one
// clock reading.
func TestExpiry(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name     string
		lifetime time.Duration
		now      time.Time
		notAfter time.Time
		wantIat  int64
		wantExp  int64
		wantErr  error
	}{
		{name: "no cap", lifetime: 15 * time.Minute, now: now, wantIat: now.Unix(), wantExp: now.Unix() + 900},
		{name: "cap later than lifetime", lifetime: 5 * time.Minute, now: now, notAfter: now.Add(time.Hour), wantIat: now.Unix(), wantExp: now.Unix() + 300},
		{name: "capped", lifetime: time.Hour, now: now, notAfter: now.Add(90 * time.Second), wantIat: now.Unix(), wantExp: now.Unix() + 90},
		{name: "cap equal to lifetime", lifetime: time.Minute, now: now, notAfter: now.Add(time.Minute), wantIat: now.Unix(), wantExp: now.Unix() + 60},
		{name: "fractional now truncated", lifetime: time.Minute, now: now.Add(999 * time.Millisecond), wantIat: now.Unix(), wantExp: now.Unix() + 60},
		{name: "fractional lifetime truncated", lifetime: 90*time.Second + 500*time.Millisecond, now: now, wantIat: now.Unix(), wantExp: now.Unix() + 90},
		{name: "default lifetime", lifetime: 0, now: now, wantIat: now.Unix(), wantExp: now.Unix() + 900},
		{name: "access token already expired", lifetime: time.Minute, now: now, notAfter: now.Add(-time.Second), wantErr: ErrNotAfter},
		{name: "access token expires this second", lifetime: time.Minute, now: now.Add(500 * time.Millisecond), notAfter: now.Add(900 * time.Millisecond), wantErr: ErrNotAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig(EdDSA)
			cfg.Lifetime = tc.lifetime
			g := mustNew(t, cfg)
			tok, expires, err := g.Generate(&Input{Now: tc.now, NotAfter: tc.notAfter})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, tok, EncodingBase64URL)
			iat, exp := num(t, d.claims["iat"]), num(t, d.claims["exp"])
			if iat != tc.wantIat || exp != tc.wantExp {
				t.Errorf("iat, exp = %d, %d; want %d, %d", iat, exp, tc.wantIat, tc.wantExp)
			}
			if !expires.Equal(time.Unix(tc.wantExp, 0)) {
				t.Errorf("expires = %v, want %d", expires, tc.wantExp)
			}
		})
	}
}

// TestCustomGenerator checks that embedding WSO2Claims and overriding only
// CustomClaims keeps every standard claim and adds the custom one.
func TestCustomGenerator(t *testing.T) {
	const D = "http://wso2.org/claims/"
	cfg := defaultConfig(ES256)
	cfg.Claims = customGenerator{}
	g := mustNew(t, cfg)
	d := decode(t, mustGenerate(t, g, exampleInput(t, time.Unix(1595447942, 0))), EncodingBase64URL)

	std := []string{
		"iss", "aud", "jti", "iat", "exp", "sub", D + "enduser", D + "applicationid", D + "applicationUUId",
		D + "subscriber", D + "applicationname", D + "applicationtier", D + "apiname", D + "version",
		D + "apicontext", D + "tier", D + "enduserTenantDomain", D + "keytype", D + "usertype",
	}
	want := append(slices.Clone(std), "custom")
	if got := payloadKeys(t, d.payload); !slices.Equal(got, want) {
		t.Errorf("claims %q\nwant %q", got, want)
	}
	if d.claims["custom"] != "claim" {
		t.Errorf("custom = %v", d.claims["custom"])
	}
}

// TestClaimsSet checks what Claims.Set and its variants accept, refuse and
// write, in each step.
func TestClaimsSet(t *testing.T) {
	type result struct {
		name string
		ok   bool
	}
	var results []result
	record := func(name string, ok bool) { results = append(results, result{name, ok}) }
	cfg := defaultConfig(EdDSA)
	cfg.RestrictedClaims = []string{"hidden"}
	cfg.Claims = funcGenerator{
		standard: func(in *Input, c *Claims) error {
			record("std iss", c.SetString("iss", "mine"))
			record("std iss again", c.SetString("iss", "other"))
			record("std exp", c.Set("exp", 1))
			record("std iat", c.SetInt("iat", 1))
			record("std hidden", c.Set("hidden", "allowed in the standard step"))
			record("std times", c.SetTimes())
			record("std times again", c.SetTimes())
			return nil
		},
		custom: func(in *Input, c *Claims) error {
			record("custom iss", c.Set("iss", "x"))
			record("custom nbf", c.Set("nbf", 1))
			record("custom hidden", c.Set("hidden", "x"))
			record("custom times", c.SetTimes())
			record("custom jti", c.SetJTI())
			record("str", c.Set("str", "a\"b\\c\n\t\x01</>&\u2028é\xff"))
			record("int", c.Set("int", 42))
			record("int64", c.Set("int64", int64(-7)))
			record("bool", c.Set("bool", true))
			record("nil", c.Set("nil", nil))
			record("strings", c.Set("strings", []string{"a", "b"}))
			record("float", c.Set("float", 1.5))
			record("map", c.Set("map", map[string]any{"k": []any{1.0, "v"}}))
			record("raw", c.SetRaw("raw", json.RawMessage(` {"a": [1, 2]} `)))
			record("raw invalid", c.SetRaw("rawbad", json.RawMessage(`{"a":`)))
			record("unencodable", c.Set("chan", make(chan int)))
			record("has str", c.Has("str"))
			record("has missing", c.Has("missing"))
			v, ok := c.Value("iss")
			record("value iss", ok && string(v) == `"mine"`)
			record("restricted hidden", c.Restricted("hidden"))
			record("restricted str", c.Restricted("str"))
			return nil
		},
	}
	g := mustNew(t, cfg)
	d := decode(t, mustGenerate(t, g, &Input{Now: time.Unix(1000, 0)}), EncodingBase64URL)
	want := []result{
		{"std iss", true}, {"std iss again", false}, {"std exp", false}, {"std iat", false},
		{"std hidden", true}, {"std times", true}, {"std times again", false},
		{"custom iss", false}, {"custom nbf", false}, {"custom hidden", false}, {"custom times", false},
		{"custom jti", false},
		{"str", true}, {"int", true}, {"int64", true}, {"bool", true}, {"nil", true}, {"strings", true},
		{"float", true}, {"map", true}, {"raw", true}, {"raw invalid", false}, {"unencodable", false},
		{"has str", true}, {"has missing", false}, {"value iss", true},
		{"restricted hidden", true}, {"restricted str", false},
	}
	if !slices.Equal(results, want) {
		t.Errorf("results:\n got %v\nwant %v", results, want)
	}
	wantClaims := map[string]any{
		"iss": "mine", "hidden": "allowed in the standard step", "iat": json.Number("1000"), "exp": json.Number("1900"),
		"str": "a\"b\\c\n\t\x01</>&\u2028é\ufffd", "int": json.Number("42"), "int64": json.Number("-7"),
		"bool": true, "nil": nil, "strings": []any{"a", "b"}, "float": json.Number("1.5"),
		"map": map[string]any{"k": []any{json.Number("1"), "v"}}, "raw": map[string]any{"a": []any{json.Number("1"), json.Number("2")}},
	}
	if !reflect.DeepEqual(d.claims, wantClaims) {
		t.Errorf("claims:\n got %#v\nwant %#v", d.claims, wantClaims)
	}
}

// TestTimesAddedWhenStandardStepSkipsThem checks that a StandardClaims that
// never calls SetTimes still yields iat and exp.
func TestTimesAddedWhenStandardStepSkipsThem(t *testing.T) {
	cfg := defaultConfig(EdDSA)
	cfg.Claims = funcGenerator{standard: func(in *Input, c *Claims) error {
		c.SetString("iss", "only")
		return nil
	}}
	in := &Input{Now: time.Unix(5000, 0), NotAfter: time.Unix(5100, 0)}
	d := decode(t, mustGenerate(t, mustNew(t, cfg), in), EncodingBase64URL)
	if got, want := payloadKeys(t, d.payload), []string{"iss", "iat", "exp"}; !slices.Equal(got, want) {
		t.Errorf("claims %q, want %q", got, want)
	}
	if num(t, d.claims["exp"]) != 5100 {
		t.Errorf("exp = %v, want the cap 5100", d.claims["exp"])
	}
}

// TestGeneratorErrors checks that a failing step fails Generate.
func TestGeneratorErrors(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		gen  ClaimsGenerator
	}{
		{name: "standard", gen: funcGenerator{standard: func(*Input, *Claims) error { return boom }}},
		{name: "custom", gen: funcGenerator{custom: func(*Input, *Claims) error { return boom }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig(EdDSA)
			cfg.Claims = tc.gen
			_, _, err := mustNew(t, cfg).Generate(&Input{Now: time.Now()})
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), tc.name) {
				t.Errorf("err = %v", err)
			}
		})
	}
	if _, _, err := mustNew(t, defaultConfig(EdDSA)).Generate(nil); err == nil {
		t.Error("nil input accepted")
	}
	if _, _, err := mustNew(t, defaultConfig(EdDSA)).Generate(&Input{}); err == nil || !strings.Contains(err.Error(), "Now is zero") {
		t.Errorf("zero Now: err = %v", err)
	}
}

// TestPayloadMatchesEncodingJSON checks the directly written claims JSON
// against encoding/json for awkward names and values.
func TestPayloadMatchesEncodingJSON(t *testing.T) {
	claims := map[string]json.RawMessage{
		"sub":             json.RawMessage(`"us\"er\u0000@x"`),
		"quote\"name":     json.RawMessage(`"v"`),
		"new\nline":       json.RawMessage(`[1, {"a" : null}]`),
		"ünïcödé":         json.RawMessage(`"✓"`),
		"nested":          json.RawMessage(" {\n \"x\": [true, false, 1.5e3]\n} "),
		"big":             json.RawMessage(`12345678901234567890`),
		"application":     json.RawMessage(`{"na\u006de": "esc-name", "id": "\"}"}`),
		"esc\\backslash":  json.RawMessage(`"\\"`),
		"\u2028separator": json.RawMessage(`"\u2029"`),
	}
	retrieved := map[string]any{"html": "<a href='x'>&</a>", "ctrl": "\x1f\x7f", "bad utf8": "\xc3\x28"}
	g := mustNew(t, defaultConfig(EdDSA))
	d := decode(t, mustGenerate(t, g, &Input{Claims: claims, Retrieved: retrieved, Now: time.Now()}), EncodingBase64URL)
	if !json.Valid(d.payload) {
		t.Fatalf("invalid JSON: %s", d.payload)
	}
	for name, raw := range claims {
		if name == "sub" || name == "application" {
			continue
		}
		var want any
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		var got any
		b, _ := json.Marshal(d.claims[name])
		_ = json.Unmarshal(b, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q = %#v, want %#v", name, got, want)
		}
	}
	for name, v := range retrieved {
		want := strings.ToValidUTF8(v.(string), "\ufffd")
		if d.claims[name] != want {
			t.Errorf("%q = %q, want %q", name, d.claims[name], want)
		}
	}
	D := "http://wso2.org/claims/"
	if d.claims["sub"] != "us\"er\x00@x" || d.claims[D+"enduser"] != "us\"er\x00@x" {
		t.Errorf("sub = %q", d.claims["sub"])
	}
	if d.claims[D+"applicationname"] != "esc-name" || d.claims[D+"applicationid"] != `"}` {
		t.Errorf("application claims: %q, %q", d.claims[D+"applicationname"], d.claims[D+"applicationid"])
	}
}

// TestGenerateConcurrent checks, under -race, that concurrent Generate
// calls (sharing pooled buffers) each get their own claims.
func TestGenerateConcurrent(t *testing.T) {
	for _, alg := range []string{ES256, EdDSA, None} {
		t.Run(alg, func(t *testing.T) {
			g := mustNew(t, defaultConfig(alg))
			var wg sync.WaitGroup
			errs := make(chan error, 8*50)
			for w := range 8 {
				wg.Go(func() {
					for i := range 50 {
						sub := fmt.Sprintf("user-%d-%d", w, i)
						in := &Input{
							Now:       time.Now(),
							Claims:    map[string]json.RawMessage{"sub": json.RawMessage(strconv.Quote(sub)), fmt.Sprint("c", i): json.RawMessage(`1`)},
							Retrieved: map[string]any{"w": w},
						}
						tok, _, err := g.Generate(in)
						if err != nil {
							errs <- err
							return
						}
						d := decode(t, tok, EncodingBase64URL)
						if d.claims["sub"] != sub || len(d.claims) != 11 || d.claims[fmt.Sprint("c", i)] == nil {
							errs <- fmt.Errorf("token for %s has claims %v", sub, d.claims)
							return
						}
						if alg != None {
							if err := verifyStd(alg, keyFor(alg).Public(), d.signingInput, d.sig); err != nil {
								errs <- err
								return
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
