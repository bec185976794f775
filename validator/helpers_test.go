package validator

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// Shorthands for the shared test kit.
var (
	sign     = testkit.Sign
	b64      = testkit.B64
	publicOf = testkit.Public
	waitFor  = testkit.WaitFor
)

type jwkSpec = testkit.JWK

func keys(testing.TB) *testkit.KeySet { return testkit.Keys() }

func newJWKSServer(t testing.TB, specs ...jwkSpec) *testkit.JWKSServer {
	return testkit.NewJWKSServer(t, specs...)
}

// newValidator builds a Validator bound to the test's lifetime.
func newValidator(t testing.TB, cfg Config) *Validator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.Start()
	return v
}

// claimsFor returns typical access-token claims for issuer iss, valid now.
func claimsFor(iss string) map[string]any {
	n := time.Now().Unix()
	return map[string]any{
		"iss": iss, "sub": "admin@carbon.super", "jti": "j-1",
		"iat": n, "nbf": n, "exp": n + 3600,
		"aud": "JzCLuJq6kHIpMhK7C5OhiWN7cPsa",
	}
}
