package jwtgen

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// D is the default dialect with its "/".
const D = DefaultDialect + "/"

// testNow is the request time of the directive tests.
var testNow = time.Unix(1700000000, 0)

// generated returns the claims of the token g makes from in, numbers as
// json.Number.
func generated(t *testing.T, g *Generator, in *Input) map[string]any {
	t.Helper()
	if in.Now.IsZero() {
		in.Now = testNow
	}
	return decode(t, mustGenerate(t, g, in), EncodingBase64URL).claims
}

// checkClaims checks that claims hold want (a nil value: absent).
func checkClaims(t *testing.T, claims, want map[string]any) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		w := want[name]
		got, ok := claims[name]
		switch {
		case w == nil && ok:
			t.Errorf("%s = %#v, want absent", name, got)
		case w != nil && !ok:
			t.Errorf("%s absent, want %#v", name, w)
		case w != nil && !reflect.DeepEqual(got, w):
			t.Errorf("%s = %#v (%T), want %#v (%T)", name, got, got, w, w)
		}
	}
}

// raws makes access-token claims from name/raw JSON pairs.
func raws(kv ...string) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = json.RawMessage(kv[i+1])
	}
	return m
}

// TestApplicationID checks that D/applicationid is a JSON string whatever
// the id's source and type.
func TestApplicationID(t *testing.T) {
	g := mustNew(t, defaultConfig(EdDSA))
	for _, tc := range []struct {
		name string
		in   Input
		want any // nil: absent
	}{
		{name: "number in the token", in: Input{Claims: raws("application", `{"id":1}`)}, want: "1"},
		{name: "large number in the token", in: Input{Claims: raws("application", `{"id": 9007199254740993 }`)}, want: "9007199254740993"},
		{name: "negative number in the token", in: Input{Claims: raws("application", `{"id":-4}`)}, want: "-4"},
		{name: "fraction in the token", in: Input{Claims: raws("application", `{"id":1.5e2}`)}, want: "1.5e2"},
		{name: "string in the token", in: Input{Claims: raws("application", `{"id":"app-7"}`)}, want: "app-7"},
		{name: "escaped string in the token", in: Input{Claims: raws("application", `{"id":"a\"7"}`)}, want: `a"7`},
		{name: "boolean in the token", in: Input{Claims: raws("application", `{"id":true}`)}, want: nil},
		{name: "null in the token", in: Input{Claims: raws("application", `{"id":null}`)}, want: nil},
		{name: "array in the token", in: Input{Claims: raws("application", `{"id":[1]}`)}, want: nil},
		{name: "API Manager's data", in: Input{Application: &Application{ID: 42}}, want: "42"},
		{name: "API Manager's data, zero", in: Input{Application: &Application{}}, want: "0"},
		{name: "the token's over API Manager's data", in: Input{Claims: raws("application", `{"id":3}`), Application: &Application{ID: 42}}, want: "3"},
		{name: "none", in: Input{}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkClaims(t, generated(t, g, &tc.in), map[string]any{D + "applicationid": tc.want})
		})
	}
}

// TestEnduser checks D/enduser for tokens with and without aut, with the
// subscriber's tenant known from each source or not at all.
func TestEnduser(t *testing.T) {
	g := mustNew(t, defaultConfig(EdDSA))
	super := &Subscription{Tier: "Gold", TenantDomain: "carbon.super"}
	other := &Subscription{Tier: "Gold", TenantDomain: "wso2.com"}
	for _, tc := range []struct {
		name string
		in   Input
		want any // nil: absent
	}{
		{name: "no aut", in: Input{Claims: raws("sub", `"bob"`), Subscription: super}, want: "bob"},
		{name: "no aut, no sub", in: Input{Subscription: super}, want: nil},
		{name: "aut not a string", in: Input{Claims: raws("sub", `"bob"`, "aut", `1`), Subscription: super}, want: "bob"},

		{name: "APPLICATION, owner from the token, carbon.super", in: Input{Claims: raws("sub", `"client"`, "aut", `"APPLICATION"`, "application", `{"owner":"alice"}`), Subscription: super}, want: "alice@carbon.super"},
		{name: "APPLICATION, owner from the data, carbon.super", in: Input{Claims: raws("sub", `"client"`, "aut", `"APPLICATION"`), Application: &Application{Subscriber: "alice"}, SubscriberTenant: "carbon.super"}, want: "alice@carbon.super"},
		{name: "APPLICATION, compared case-insensitively", in: Input{Claims: raws("sub", `"client"`, "aut", `"application"`), Application: &Application{Subscriber: "alice"}, Subscription: super}, want: "alice@carbon.super"},
		{name: "APPLICATION, escaped aut", in: Input{Claims: raws("sub", `"client"`, "aut", `"\u0041PPLICATION"`), Application: &Application{Subscriber: "alice"}, Subscription: super}, want: "alice@carbon.super"},
		{name: "APPLICATION, another tenant: the owner as is", in: Input{Claims: raws("sub", `"client"`, "aut", `"APPLICATION"`), Application: &Application{Subscriber: "alice@wso2.com"}, Subscription: other}, want: "alice@wso2.com"},
		{name: "APPLICATION, tenant unknown: the sub", in: Input{Claims: raws("sub", `"client"`, "aut", `"APPLICATION"`), Application: &Application{Subscriber: "alice"}}, want: "client"},
		{name: "APPLICATION, owner unknown: the sub", in: Input{Claims: raws("sub", `"client"`, "aut", `"APPLICATION"`), Subscription: super}, want: "client"},
		{name: "APPLICATION, owner already with the tenant", in: Input{Claims: raws("sub", `"client"`, "aut", `"APPLICATION"`, "application", `{"owner":"alice@carbon.super"}`), Subscription: super}, want: "alice@carbon.super"},
		{name: "APPLICATION, no sub", in: Input{Claims: raws("aut", `"APPLICATION"`), Application: &Application{Subscriber: "alice"}, Subscription: super}, want: "alice@carbon.super"},

		{name: "APPLICATION_USER, carbon.super", in: Input{Claims: raws("sub", `"bob"`, "aut", `"APPLICATION_USER"`), Subscription: super}, want: "bob@carbon.super"},
		{name: "APPLICATION_USER, another tenant", in: Input{Claims: raws("sub", `"bob"`, "aut", `"APPLICATION_USER"`), Subscription: other}, want: "bob@wso2.com"},
		{name: "APPLICATION_USER, tenant from SubscriberTenant over the subscription", in: Input{Claims: raws("sub", `"bob"`, "aut", `"APPLICATION_USER"`), Subscription: super, SubscriberTenant: "wso2.com"}, want: "bob@wso2.com"},
		{name: "APPLICATION_USER, doubled tenant avoided", in: Input{Claims: raws("sub", `"bob@carbon.super"`, "aut", `"APPLICATION_USER"`), Subscription: super}, want: "bob@carbon.super"},
		{name: "APPLICATION_USER, escaped sub already with the tenant", in: Input{Claims: raws("sub", `"bob\u0040wso2.com"`, "aut", `"APPLICATION_USER"`), Subscription: other}, want: "bob@wso2.com"},
		{name: "APPLICATION_USER, another tenant's suffix kept and added to", in: Input{Claims: raws("sub", `"bob@wso2.com"`, "aut", `"APPLICATION_USER"`), Subscription: super}, want: "bob@wso2.com@carbon.super"},
		{name: "APPLICATION_USER, tenant unknown: the sub", in: Input{Claims: raws("sub", `"bob"`, "aut", `"APPLICATION_USER"`)}, want: "bob"},
		{name: "any other aut is APPLICATION_USER", in: Input{Claims: raws("sub", `"bob"`, "aut", `"SOMETHING"`), Subscription: super}, want: "bob@carbon.super"},
		{name: "APPLICATION_USER, tenant to escape", in: Input{Claims: raws("sub", `"bob"`, "aut", `"APPLICATION_USER"`), SubscriberTenant: `a"b`}, want: `bob@a"b`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := generated(t, g, &tc.in)
			want := map[string]any{D + "enduser": tc.want}
			// sub stays the token's; aut is copied like any other claim.
			if sub, ok := tc.in.Claims["sub"]; ok {
				var s string
				_ = json.Unmarshal(sub, &s)
				want["sub"] = s
			}
			if aut, ok := tc.in.Claims["aut"]; ok {
				var v any
				dec := json.NewDecoder(strings.NewReader(string(aut)))
				dec.UseNumber()
				_ = dec.Decode(&v)
				want["aut"] = v
			}
			checkClaims(t, claims, want)
		})
	}
}

// TestUserType checks D/usertype: Application_User unless Input.UserType.
func TestUserType(t *testing.T) {
	g := mustNew(t, defaultConfig(EdDSA))
	for _, tc := range []struct {
		name, userType, want string
		aut                  string
	}{
		{name: "JWT", want: "Application_User"},
		{name: "JWT with aut APPLICATION", aut: `"APPLICATION"`, want: "Application_User"},
		{name: "introspected application token", userType: "APPLICATION", want: "APPLICATION"},
		{name: "introspected user token", userType: "APPLICATION_USER", want: "APPLICATION_USER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{Claims: raws("sub", `"bob"`), UserType: tc.userType}
			if tc.aut != "" {
				in.Claims["aut"] = json.RawMessage(tc.aut)
			}
			checkClaims(t, generated(t, g, in), map[string]any{D + "usertype": tc.want})
		})
	}
}

// TestAPIManagerDataClaims checks D/enduserTenantId and
// D/applicationAttributes, written only when set.
func TestAPIManagerDataClaims(t *testing.T) {
	g := mustNew(t, defaultConfig(EdDSA))
	for _, tc := range []struct {
		name      string
		tenantID  string
		attrs     string
		wantID    any
		wantAttrs any
	}{
		{name: "not set", wantID: nil, wantAttrs: nil},
		{name: "carbon.super", tenantID: "-1234", wantID: "-1234"},
		{name: "unknown tenant", tenantID: "-1", wantID: "-1"},
		{name: "configured tenant id", tenantID: "7", wantID: "7"},
		{name: "attributes", attrs: ` {"a":"b","n":{"x":[1]}} `, wantAttrs: map[string]any{"a": "b", "n": map[string]any{"x": []any{json.Number("1")}}}},
		{name: "empty attributes", attrs: `{ }`, wantAttrs: nil},
		{name: "attributes not an object", attrs: `["a"]`, wantAttrs: nil},
		{name: "attributes null", attrs: `null`, wantAttrs: nil},
		{name: "attributes not JSON", attrs: `{"a":`, wantAttrs: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{TenantID: tc.tenantID}
			if tc.attrs != "" {
				in.ApplicationAttributes = json.RawMessage(tc.attrs)
			}
			checkClaims(t, generated(t, g, in), map[string]any{D + "enduserTenantId": tc.wantID, D + "applicationAttributes": tc.wantAttrs})
		})
	}
}

// TestCopiedClaims checks that Input.Copied (the claims after the issuer's
// claim map) is what is copied, that restriction applies to the mapped
// names, and that a mapped claim never takes a standard name, while the
// standard claims read Input.Claims.
func TestCopiedClaims(t *testing.T) {
	cfg := defaultConfig(EdDSA)
	cfg.RestrictedClaims = []string{"secret"}
	g := mustNew(t, cfg)
	in := &Input{
		Claims: raws("sub", `"bob"`, "uid", `"u-1"`, "mail", `"b@x"`, "keytype", `"SANDBOX"`, "hidden", `"h"`),
		Copied: raws(
			"sub", `"bob"`, // the token's sub, unmapped: restricted
			"user_id", `"u-1"`, // uid renamed
			"email", `"b@x"`, // mail renamed
			"iss", `"mapped-to-iss"`, // renamed to a restricted name
			"secret", `"h"`, // renamed to a configured restricted name
			D+"enduser", `"mallory"`, // renamed to a standard name that is set
			D+"enduserTenantId", `"-1234"`, // renamed to a standard name that is not set
			D+"keytype", `"PRODUCTION"`, // renamed to a standard name the token's keytype sets
		),
	}
	checkClaims(t, generated(t, g, in), map[string]any{
		"sub": "bob", D + "enduser": "bob", D + "keytype": "SANDBOX", "iss": DefaultIssuer,
		"user_id": "u-1", "email": "b@x",
		"uid": nil, "mail": nil, "hidden": nil, "secret": nil, D + "enduserTenantId": nil,
	})

	// An empty (not nil) Copied copies nothing.
	in.Copied = map[string]json.RawMessage{}
	checkClaims(t, generated(t, g, in), map[string]any{"uid": nil, "mail": nil, "hidden": nil, "sub": "bob"})
}

// TestConvertDialect checks the conversion of copied and retrieved claims
// with OIDC names to the dialect.
func TestConvertDialect(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       func(*Config)
		copied    map[string]json.RawMessage
		retrieved map[string]any
		want      map[string]any
	}{
		{
			name:   "off by default",
			cfg:    func(c *Config) { c.ConvertDialect = false },
			copied: raws("email", `"a@x"`),
			want:   map[string]any{"email": "a@x", D + "emailaddress": nil},
		},
		{
			name:   "token claims",
			copied: raws("email", `"a@x"`, "given_name", `"Ann"`, "email_verified", `true`, "address", `{"country":"LK"}`, "other", `1`),
			want: map[string]any{
				D + "emailaddress": "a@x", D + "givenname": "Ann", D + "identity/emailVerified": true,
				D + "addresses": map[string]any{"country": "LK"}, "other": json.Number("1"),
				"email": nil, "given_name": nil, "email_verified": nil, "address": nil,
			},
		},
		{
			name:      "retrieved claims",
			retrieved: map[string]any{"family_name": "Lee", "groups": []string{"a", "b"}, "phone_number": "+94"},
			want: map[string]any{
				D + "lastname": "Lee", D + "groups": []any{"a", "b"}, D + "telephone": "+94",
				"family_name": nil, "groups": nil, "phone_number": nil,
			},
		},
		{
			name:   "a dialect claim already present is left alone",
			copied: raws(D+"givenname", `"Ann"`, D+"custom", `"c"`),
			want:   map[string]any{D + "givenname": "Ann", D + "custom": "c"},
		},
		{
			name:   "a conversion to the same name replaces a dialect claim",
			copied: raws(D+"emailaddress", `"old@x"`, "email", `"new@x"`),
			want:   map[string]any{D + "emailaddress": "new@x", "email": nil},
		},
		{
			name:      "a retrieved conversion replaces a retrieved dialect claim",
			retrieved: map[string]any{D + "emailaddress": "old@x", "email": "new@x"},
			want:      map[string]any{D + "emailaddress": "new@x"},
		},
		{
			name:      "a retrieved claim replaces a copied conversion",
			copied:    raws("email", `"token@x"`),
			retrieved: map[string]any{D + "emailaddress": "kept@x"},
			want:      map[string]any{D + "emailaddress": "kept@x"},
		},
		{
			name:      "a retrieved conversion replaces a copied one",
			copied:    raws("email", `"token@x"`),
			retrieved: map[string]any{"email": "km@x"},
			want:      map[string]any{D + "emailaddress": "km@x"},
		},
		{
			name:   "restricted before conversion",
			cfg:    func(c *Config) { c.ConvertDialect, c.RestrictedClaims = true, []string{"email"} },
			copied: raws("email", `"a@x"`, "nickname", `"n"`),
			want:   map[string]any{D + "emailaddress": nil, "email": nil, D + "nickname": "n"},
		},
		{
			name:      "restricted after conversion",
			cfg:       func(c *Config) { c.ConvertDialect, c.RestrictedClaims = true, []string{D + "emailaddress"} },
			copied:    raws("email", `"a@x"`),
			retrieved: map[string]any{D + "emailaddress": "b@x", "nickname": "n"},
			want:      map[string]any{D + "emailaddress": nil, "email": nil, D + "nickname": "n"},
		},
		{
			name: "dialect_map adds and overrides pairs",
			cfg: func(c *Config) {
				c.ConvertDialect, c.DialectMap = true, map[string]string{"mail": "mailbox", "email": "primaryMail"}
			},
			copied: raws("mail", `"m@x"`, "email", `"e@x"`),
			want:   map[string]any{D + "mailbox": "m@x", D + "primaryMail": "e@x", D + "emailaddress": nil},
		},
		{
			name: "two conversions to one name: the first name in order",
			cfg: func(c *Config) {
				c.ConvertDialect, c.DialectMap = true, map[string]string{"mail": "emailaddress"}
			},
			copied: raws("mail", `"m@x"`, "email", `"e@x"`),
			want:   map[string]any{D + "emailaddress": "e@x", "mail": nil, "email": nil},
		},
		{
			name: "a conversion to a standard name is dropped",
			cfg: func(c *Config) {
				c.ConvertDialect, c.DialectMap = true, map[string]string{"who": "enduser", "tid": "enduserTenantId"}
			},
			copied: raws("sub", `"bob"`, "who", `"mallory"`, "tid", `"1"`),
			want:   map[string]any{D + "enduser": "bob", D + "enduserTenantId": nil, "who": nil, "tid": nil},
		},
		{
			name: "another dialect",
			cfg: func(c *Config) {
				c.ConvertDialect, c.Dialect = true, "urn:example:claims"
			},
			copied: raws("email", `"a@x"`),
			want:   map[string]any{"urn:example:claims/emailaddress": "a@x", D + "emailaddress": nil},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig(EdDSA)
			cfg.ConvertDialect = true
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			g := mustNew(t, cfg)
			checkClaims(t, generated(t, g, &Input{Claims: tc.copied, Retrieved: tc.retrieved}), tc.want)
		})
	}
}

// TestIncludeClaims checks that include_claims selects the copied and
// retrieved claims by their final names, and that section 6's claims and
// the static claims are written whatever it holds.
func TestIncludeClaims(t *testing.T) {
	cfg := defaultConfig(EdDSA)
	cfg.IncludeClaims = []string{"scope", D + "emailaddress", "department", "roles", "nbf", "given_name"}
	cfg.ConvertDialect = true
	g := mustNew(t, cfg)
	in := exampleInput(t, time.Unix(1595447942, 0))
	in.Claims["email"] = json.RawMessage(`"a@x"`)
	in.Claims["given_name"] = json.RawMessage(`"Ann"`) // converted: its final name is not listed
	in.Retrieved = map[string]any{"department": "ops", "roles": "admin", "locality": "Colombo", "scope": "retrieved"}
	in.Static = []StaticClaim{{Name: "tenant", Value: json.RawMessage(`"t1"`)}}
	claims := generated(t, g, in)
	checkClaims(t, claims, map[string]any{
		"scope": "retrieved", D + "emailaddress": "a@x", "department": "ops", "tenant": "t1",
		"azp": nil, D + "locality": nil, "locality": nil, "nbf": nil, "given_name": nil, D + "givenname": nil,
		"roles": nil, D + "roles": nil, // roles converts to D/roles, which is not listed
		"sub": "admin@carbon.super", D + "applicationid": "1", D + "tier": "Gold", D + "usertype": "Application_User",
	})
}

// TestIncludeClaimsRetrieved checks include_claims with retrieved claims
// alone and without conversion.
func TestIncludeClaimsRetrieved(t *testing.T) {
	cfg := defaultConfig(EdDSA)
	cfg.IncludeClaims = []string{D + "givenname", "department"}
	g := mustNew(t, cfg)
	in := &Input{
		Claims:    raws("sub", `"bob"`, "department", `"token"`, "azp", `"c"`),
		Retrieved: map[string]any{D + "givenname": "Bob", D + "lastname": "Lee", "department": "km"},
	}
	checkClaims(t, generated(t, g, in), map[string]any{
		D + "givenname": "Bob", "department": "km", D + "lastname": nil, "azp": nil, "sub": "bob",
	})
}

// TestStaticClaims checks static claims: each JSON type as given, replacing
// copied and retrieved claims, outside restricted_claims, never a standard
// claim.
func TestStaticClaims(t *testing.T) {
	cfg := defaultConfig(EdDSA)
	cfg.RestrictedClaims = []string{"secret"}
	g := mustNew(t, cfg)
	in := &Input{
		Claims:    raws("sub", `"bob"`, "dept", `"token"`, "secret", `"from-token"`),
		Retrieved: map[string]any{"region": "retrieved"},
		Static: []StaticClaim{
			{Name: "s", Value: json.RawMessage(`"text {not a placeholder}"`)},
			{Name: "i", Value: json.RawMessage(`42`)},
			{Name: "l", Value: json.RawMessage(`9007199254740993`)},
			{Name: "f", Value: json.RawMessage(`2.5`)},
			{Name: "b", Value: json.RawMessage(`false`)},
			{Name: "j", Value: json.RawMessage(` {"k":[1,"v",null]} `)},
			{Name: "a", Value: json.RawMessage(`[1,2]`)},
			{Name: "n", Value: json.RawMessage(`null`)},
			{Name: "date", Value: json.RawMessage(`"2024-02-29"`)},
			{Name: "dept", Value: json.RawMessage(`"static"`)},   // replaces a copied claim
			{Name: "region", Value: json.RawMessage(`"static"`)}, // replaces a retrieved claim
			{Name: "secret", Value: json.RawMessage(`"static"`)}, // restricted_claims do not apply
			{Name: "nbf", Value: json.RawMessage(`1`)},           // nor the default ones
			{Name: "empty", Value: nil},                          // left out
			{Name: "iss", Value: json.RawMessage(`"evil"`)},      // standard: skipped
			{Name: D + "enduser", Value: json.RawMessage(`"evil"`)},
			{Name: D + "enduserTenantId", Value: json.RawMessage(`"evil"`)}, // standard though unset
			{Name: "twice", Value: json.RawMessage(`1`)},
			{Name: "twice", Value: json.RawMessage(`2`)}, // the last stands
		},
	}
	checkClaims(t, generated(t, g, in), map[string]any{
		"s": "text {not a placeholder}", "i": json.Number("42"), "l": json.Number("9007199254740993"),
		"f": json.Number("2.5"), "b": false, "j": map[string]any{"k": []any{json.Number("1"), "v", nil}},
		"a": []any{json.Number("1"), json.Number("2")}, "date": "2024-02-29",
		"dept": "static", "region": "static", "secret": "static", "nbf": json.Number("1"), "twice": json.Number("2"),
		"empty": nil, "iss": DefaultIssuer, D + "enduser": "bob", D + "enduserTenantId": nil,
	})
	claims := generated(t, g, in)
	if v, ok := claims["n"]; !ok || v != nil {
		t.Errorf("n = %#v (present %v), want null", v, ok)
	}

	for _, tc := range []struct {
		name   string
		static StaticClaim
	}{
		{name: "no name", static: StaticClaim{Value: json.RawMessage(`1`)}},
		{name: "not JSON", static: StaticClaim{Name: "x", Value: json.RawMessage(`{"a":`)}},
		{name: "two values", static: StaticClaim{Name: "x", Value: json.RawMessage(`1 2`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := g.Generate(&Input{Now: testNow, Static: []StaticClaim{tc.static}})
			if err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestStandardClaimNames checks the names a static claim may not take.
func TestStandardClaimNames(t *testing.T) {
	for _, tc := range []struct {
		dialect string
		prefix  string
	}{
		{dialect: DefaultDialect, prefix: D},
		{dialect: "urn:x/", prefix: "urn:x/"},
		{dialect: "", prefix: ""},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			cfg := defaultConfig(EdDSA)
			cfg.Dialect = tc.dialect
			names := StandardClaimNames(cfg)
			want := []string{"iss", "aud", "jti", "iat", "exp", "sub"}
			for _, s := range []string{"enduser", "applicationid", "applicationUUId", "subscriber", "applicationname",
				"applicationtier", "apiname", "version", "apicontext", "tier", "enduserTenantDomain", "keytype",
				"usertype", "enduserTenantId", "applicationAttributes"} {
				want = append(want, tc.prefix+s)
			}
			if !slices.Equal(names, want) {
				t.Errorf("StandardClaimNames = %q\nwant %q", names, want)
			}
			g := mustNew(t, cfg)
			for _, n := range want {
				if !g.IsStandardClaim(n) {
					t.Errorf("IsStandardClaim(%q) = false", n)
				}
			}
			for _, n := range []string{"nbf", "scope", "aut", "x" + tc.prefix + "enduser", tc.prefix + "givenname"} {
				if g.IsStandardClaim(n) {
					t.Errorf("IsStandardClaim(%q) = true", n)
				}
			}
		})
	}
}

// TestDefaultDialectTable checks the table is SPEC section 14's, exactly,
// and returned as a copy.
func TestDefaultDialectTable(t *testing.T) {
	want := map[string]string{
		"email": "emailaddress", "given_name": "givenname", "family_name": "lastname",
		"phone_number": "telephone", "name": "fullname", "preferred_username": "displayName",
		"middle_name": "middleName", "nickname": "nickname", "profile": "url", "picture": "photourl",
		"website": "websiteurl", "upn": "userprincipal", "groups": "groups", "roles": "roles",
		"email_verified": "identity/emailVerified", "phone_number_verified": "identity/phoneVerified",
		"gender": "gender", "birthdate": "dob", "zoneinfo": "timeZone", "locale": "local",
		"address": "addresses", "updated_at": "modified", "street_address": "streetaddress",
		"locality": "locality", "region": "region", "postal_code": "postalcode", "country": "country",
		"username": "username",
	}
	got := DefaultDialectTable()
	if !maps.Equal(got, want) {
		t.Errorf("DefaultDialectTable = %v\nwant %v", got, want)
	}
	got["email"] = "changed"
	delete(got, "name")
	if again := DefaultDialectTable(); !maps.Equal(again, want) {
		t.Error("changing the returned table changed the next one")
	}
}

// TestNewRefusesDirectives checks the configuration errors of the claim
// directives.
func TestNewRefusesDirectives(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{name: "empty include name", edit: func(c *Config) { c.IncludeClaims = []string{"a", ""} }},
		{name: "empty dialect_map name", edit: func(c *Config) { c.ConvertDialect, c.DialectMap = true, map[string]string{"": "x"} }},
		{name: "empty dialect_map local name", edit: func(c *Config) { c.ConvertDialect, c.DialectMap = true, map[string]string{"x": ""} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig(EdDSA)
			tc.edit(&cfg)
			if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), "jwtgen: ") {
				t.Errorf("New: err = %v", err)
			}
		})
	}
}

// TestPlain8 checks the eight-byte test of appendJSONStringBody against the
// byte-by-byte rule, for every byte value at every position, and
// appendJSONString against encoding/json for strings that cross the
// eight-byte blocks.
func TestPlain8(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			var x uint64 = 0x6161616161616161 // "aaaaaaaa"
			x &^= 0xff << (8 * pos)
			x |= uint64(c) << (8 * pos)
			want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
			if got := plain8(x); got != want {
				t.Fatalf("plain8 with byte %#x at %d = %v, want %v", c, pos, got, want)
			}
		}
	}
	for _, s := range []string{
		"", "abcdefg", "abcdefgh", "abcdefghi", "http://wso2.org/claims/emailaddress",
		"abcdefg\"", "abcdefgh\\ijklmnop", "abcdefghijklmno\x1f", "abcdefgh\u2028ijklmnop",
		"abcdéfgh", "abcdefghijklmnopq\xff", "\x7fabcdefghijklmnop", "abcdefgh<>&ijklmnop",
	} {
		var want string
		if err := json.Unmarshal(appendJSONString(nil, s), &want); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if want != strings.ToValidUTF8(s, "\ufffd") {
			t.Errorf("%q written as %s", s, appendJSONString(nil, s))
		}
	}
}

// TestGenerateAllocs checks that the per-request path allocates only the
// token it returns, with every directive at work: aut with an escaped sub,
// API Manager's data, conversion, include_claims, retrieved and static
// claims.
func TestGenerateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	cfg := defaultConfig(EdDSA)
	cfg.ConvertDialect = true
	cfg.DialectMap = map[string]string{"mail": "mailbox"}
	cfg.IncludeClaims = []string{D + "emailaddress", D + "mailbox", "scope", "dept", "team"}
	g := mustNew(t, cfg)
	in := &Input{
		Claims:                raws("sub", `"b\u006fb"`, "aut", `"APPLICATION_USER"`, "email", `"a@x"`, "mail", `"m@x"`, "scope", `"s"`, "x", `1`),
		API:                   &API{Name: "A", Version: "1", Context: "/a"},
		Application:           &Application{ID: 3, UUID: "u", Name: "n", Subscriber: "alice", Tier: "t"},
		Subscription:          &Subscription{Tier: "Gold", TenantDomain: "carbon.super"},
		TenantID:              "-1234",
		ApplicationAttributes: json.RawMessage(`{"k":"v"}`),
		Retrieved:             map[string]any{"dept": "ops", "n": 1},
		Static:                []StaticClaim{{Name: "team", Value: json.RawMessage(`"t"`)}},
		Now:                   testNow,
	}
	if n := testing.AllocsPerRun(100, func() { mustGenerate(t, g, in) }); n != 1 {
		t.Errorf("Generate makes %v allocations, want 1 (the token)", n)
	}
}
