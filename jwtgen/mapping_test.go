package jwtgen_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

// TestClaimMapThroughGenerator runs an issuer's claim_map from validation
// to the backend JWT: renamed claims are copied under their local names,
// a claim renamed to a restricted name or to one of SPEC section 6's table
// is dropped (set or not), and the standard claims still come from the
// token as issued.
func TestClaimMapThroughGenerator(t *testing.T) {
	const iss = "https://localhost:9443/oauth2/token"
	const D = jwtgen.DefaultDialect + "/"
	v, err := validator.New(context.Background(), validator.Config{
		Issuers: []validator.IssuerConfig{{
			Issuer:     iss,
			PublicKeys: []crypto.PublicKey{testkit.Public(testkit.Keys().RSA)},
			ClaimMap: map[string]string{
				"uid":      "user_id",             // plain rename
				"mail":     "email",               // replaces the token's email, then converted
				"azp":      "iss",                 // to a restricted name: dropped
				"nick":     D + "enduser",         // to a standard claim that is set: dropped
				"tid":      D + "enduserTenantId", // to a standard claim that is not set: dropped
				"secret":   "hidden",              // to a configured restricted name: dropped
				"keytype":  "key_type",            // the standard claims read keytype as issued
				"scope":    "permissions",
				"given":    "given_name",
				"realname": "name",
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	token := testkit.AccessToken(t, iss, map[string]any{
		"keytype": "SANDBOX", "uid": "u-1", "mail": "m@x", "email": "e@x", "nick": "mallory", "tid": "7",
		"secret": "s", "given": "Ann", "realname": "Ann Lee",
	})
	tok, err := v.Validate(token)
	if err != nil {
		t.Fatal(err)
	}
	g, err := jwtgen.New(jwtgen.Config{
		Dialect: jwtgen.DefaultDialect, Algorithm: jwtgen.None,
		RestrictedClaims: []string{"hidden"}, ConvertDialect: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	jwt, _, err := g.Generate(&jwtgen.Input{Claims: tok.Claims, Copied: tok.Copied, Now: time.Now(), NotAfter: tok.Expires})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]any{
		"user_id": "u-1", D + "emailaddress": "m@x", D + "givenname": "Ann", D + "fullname": "Ann Lee",
		"permissions": "am_application_scope default", "key_type": "SANDBOX",
		"iss": jwtgen.DefaultIssuer, D + "enduser": "admin@carbon.super", D + "keytype": "SANDBOX",
		"sub": "admin@carbon.super", D + "applicationid": "1",
		// dropped
		"uid": nil, "mail": nil, "email": nil, "azp": nil, "nick": nil, "tid": nil, D + "enduserTenantId": nil,
		"hidden": nil, "secret": nil, "scope": nil, "given_name": nil, "name": nil,
	} {
		got, ok := claims[name]
		switch {
		case want == nil && ok:
			t.Errorf("%s = %v, want absent", name, got)
		case want != nil && got != want:
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
}
