package jwtgen_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
)

// A generator is built once; each request supplies the validated access
// token's claims and the route's API.
func ExampleGenerator_Generate() {
	key, err := jwtgen.GenerateKey(jwtgen.ES256) // or ParsePrivateKeyPEM
	if err != nil {
		panic(err)
	}
	g, err := jwtgen.New(jwtgen.Config{
		Issuer:    jwtgen.DefaultIssuer,
		Dialect:   jwtgen.DefaultDialect, // no Audience: no aud claim
		Algorithm: jwtgen.ES256,
		Key:       key,
		Lifetime:  15 * time.Minute,
	})
	if err != nil {
		panic(err)
	}
	now := time.Unix(1595447942, 0)
	token, expires, err := g.Generate(&jwtgen.Input{
		Claims: map[string]json.RawMessage{
			"sub":         json.RawMessage(`"admin@carbon.super"`),
			"application": json.RawMessage(`{"id":1,"name":"DefaultApplication"}`),
			"scope":       json.RawMessage(`"default"`),
		},
		API:      &jwtgen.API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"},
		Now:      now,
		NotAfter: now.Add(5 * time.Minute),
	})
	if err != nil {
		panic(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	fmt.Println(claims["http://wso2.org/claims/enduser"], claims["http://wso2.org/claims/applicationid"], claims["scope"])
	fmt.Println(expires.Sub(now)) // capped by the access token's exp
	// Output:
	// admin@carbon.super 1 default
	// 5m0s
}

// The generated-token cache: one token per inbound token and API, re-minted
// when less than the clock skew of its life is left.
func ExampleTokenCache_Get() {
	cache := jwtgen.NewTokenCache(10000, 0.25)
	now := time.Now()
	mints := 0
	mint := func() (string, time.Time, error) {
		mints++
		return fmt.Sprintf("backend-jwt-%d", mints), now.Add(15 * time.Minute), nil
	}
	key := jwtgen.CacheKey("inbound.access.token", "PizzaShackAPI", "1.0.0")
	a, hitA, _ := cache.Get(key, now, 5*time.Second, mint)
	b, hitB, _ := cache.Get(key, now, 5*time.Second, mint)
	fmt.Println(a, hitA, b, hitB)
	// Output: backend-jwt-1 false backend-jwt-1 true
}
