package jwtgen

// Every use of jwx in this package is in this file: it checks our output
// against an independent JOSE implementation.

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// TestJWXVerifiesWithJWKS checks that jwx verifies the tokens of every
// algorithm with the JWKS() output (kid lookup), and that jwx and
// encoding/json read the same claims.
func TestJWXVerifiesWithJWKS(t *testing.T) {
	var keys []PublicKey
	gens := map[string]*Generator{}
	for _, alg := range signingAlgs {
		g := mustNew(t, defaultConfig(alg))
		gens[alg] = g
		pk, ok := g.PublicKey()
		if !ok || pk.KeyID != g.KeyID() || pk.Algorithm != alg {
			t.Fatalf("%s: PublicKey() = %+v, %v", alg, pk, ok)
		}
		if alg != PS256 { // PS256 shares the RSA key (and kid) with RS256
			keys = append(keys, pk)
		}
	}
	jwks, err := JWKS(keys)
	if err != nil {
		t.Fatal(err)
	}
	set, err := jwk.Parse(jwks)
	if err != nil {
		t.Fatalf("jwx cannot parse the JWKS %s: %v", jwks, err)
	}
	if set.Len() != len(keys) {
		t.Fatalf("JWKS has %d keys, want %d", set.Len(), len(keys))
	}
	for _, alg := range signingAlgs {
		t.Run(alg, func(t *testing.T) {
			g := gens[alg]
			tok := mustGenerate(t, g, liveInput(t))
			var parseSet jwk.Set = set
			if alg == PS256 {
				// The published alg is RS256; a PS256 deployment
				// publishes its key with PS256.
				pk, _ := g.PublicKey()
				ps, err := JWKS([]PublicKey{pk})
				if err != nil {
					t.Fatal(err)
				}
				if parseSet, err = jwk.Parse(ps); err != nil {
					t.Fatal(err)
				}
			}
			parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(parseSet), jwt.WithValidate(true))
			if err != nil {
				t.Fatalf("jwx: %v", err)
			}
			m, err := parsed.AsMap(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			viaJWX := roundTrip(t, m)
			d := decode(t, tok, EncodingBase64URL)
			var viaJSON map[string]any
			if err := json.Unmarshal(d.payload, &viaJSON); err != nil {
				t.Fatal(err)
			}
			// jwx types the registered claims: aud a list, times
			// time.Time. Compare those through its accessors.
			if exp, iat := num(t, d.claims["exp"]), num(t, d.claims["iat"]); parsed.Expiration().Unix() != exp || parsed.IssuedAt().Unix() != iat {
				t.Errorf("jwx exp/iat %v/%v, encoding/json %d/%d", parsed.Expiration(), parsed.IssuedAt(), exp, iat)
			}
			if aud := parsed.Audience(); len(aud) != 1 || aud[0] != viaJSON["aud"] {
				t.Errorf("jwx aud %v, encoding/json %v", aud, viaJSON["aud"])
			}
			for _, k := range []string{"exp", "iat", "aud"} {
				delete(viaJWX, k)
				delete(viaJSON, k)
			}
			if len(viaJSON) < 15 || !reflect.DeepEqual(viaJWX, viaJSON) {
				t.Errorf("jwx and encoding/json disagree:\n jwx  %v\n json %v", viaJWX, viaJSON)
			}
			if k, ok := set.LookupKeyID(g.KeyID()); alg != PS256 && (!ok || k.KeyID() != g.KeyID()) {
				t.Errorf("kid %s not in the JWKS", g.KeyID())
			}

			// A token signed by another key with the same kid fails.
			other, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			cfg := defaultConfig(alg)
			cfg.Key = other
			forged := []byte(mustGenerate(t, mustNew(t, cfg), liveInput(t)))
			if _, err := jwt.Parse(forged, jwt.WithKeySet(parseSet)); err == nil {
				t.Error("jwx accepted a token of an unpublished key")
			}
		})
	}

	t.Run("none", func(t *testing.T) {
		tok := mustGenerate(t, mustNew(t, defaultConfig(None)), liveInput(t))
		parsed, err := jwt.ParseInsecure([]byte(tok))
		if err != nil {
			t.Fatalf("jwx: %v", err)
		}
		if parsed.Subject() != "admin@carbon.super" || parsed.Issuer() != DefaultIssuer {
			t.Errorf("sub %q iss %q", parsed.Subject(), parsed.Issuer())
		}
	})
}

// roundTrip normalises a value through encoding/json.
func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestJWKSMatchesJWX checks the JWKS members, and our thumbprints, against
// jwx's view of the same keys.
func TestJWKSMatchesJWX(t *testing.T) {
	for _, tc := range []struct {
		name string
		pub  crypto.PublicKey
		alg  string
		kid  string
	}{
		{name: "RSA", pub: keyFor(RS256).Public(), alg: "SHA256withRSA"},
		{name: "ECDSA", pub: keyFor(ES256).Public(), alg: ES256, kid: "given-kid"},
		{name: "Ed25519", pub: keyFor(EdDSA).Public(), alg: EdDSA},
		{name: "no alg", pub: keyFor(ES256).Public()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := JWKS([]PublicKey{{Key: tc.pub, KeyID: tc.kid, Algorithm: tc.alg}})
			if err != nil {
				t.Fatal(err)
			}
			set, err := jwk.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := set.Key(0)
			want, err := jwk.FromRaw(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			tpGot, _ := got.Thumbprint(crypto.SHA256)
			tpWant, _ := want.Thumbprint(crypto.SHA256)
			if string(tpGot) != string(tpWant) {
				t.Errorf("published key differs from the original")
			}
			ours, err := Thumbprint(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			if jwxTP := base64.RawURLEncoding.EncodeToString(tpWant); ours != jwxTP {
				t.Errorf("Thumbprint %s, jwx %s", ours, jwxTP)
			}
			wantKid := tc.kid
			if wantKid == "" {
				wantKid = ours
			}
			wantAlg := ""
			if tc.alg != "" {
				wantAlg, _ = CanonicalAlgorithm(tc.alg)
			}
			if got.KeyID() != wantKid || got.KeyUsage() != "sig" || got.Algorithm().String() != wantAlg {
				t.Errorf("kid %q use %q alg %q; want %q sig %q", got.KeyID(), got.KeyUsage(), got.Algorithm(), wantKid, wantAlg)
			}
			var raw map[string]any
			if err := json.Unmarshal(b, &struct{ Keys []any }{Keys: []any{&raw}}); err != nil {
				t.Fatal(err)
			}
			if _, ok := raw["d"]; ok {
				t.Error("private member d published")
			}
		})
	}
	for _, tc := range []struct {
		name string
		keys []PublicKey
	}{
		{name: "alg none", keys: []PublicKey{{Key: keyFor(ES256).Public(), Algorithm: None}}},
		{name: "alg misfit", keys: []PublicKey{{Key: keyFor(ES256).Public(), Algorithm: RS256}}},
		{name: "unknown key", keys: []PublicKey{{Key: "key"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := JWKS(tc.keys); err == nil {
				t.Error("JWKS accepted it")
			}
		})
	}
	if b, err := JWKS(nil); err != nil || string(b) != `{"keys":[]}` {
		t.Errorf("empty JWKS = %s, %v", b, err)
	}
}

// TestJWXReadsAwkwardClaims checks that jwx and encoding/json read the same
// values from a payload full of characters that need escaping.
func TestJWXReadsAwkwardClaims(t *testing.T) {
	g := mustNew(t, defaultConfig(ES256))
	in := liveInput(t)
	in.Claims["quote\"d"] = json.RawMessage(`"a\"b\\c\u0001\n"`)
	in.Claims["ünï\u2028"] = json.RawMessage(`{"deep": [1, "two", null, {"x": false}]}`)
	in.Retrieved = map[string]any{"html": "<&>", "bad": "\xff\xfe", "list": []string{"a", "b"}, "num": 1.25}
	tok := mustGenerate(t, g, in)
	jwks, err := JWKS([]PublicKey{{Key: keyFor(ES256).Public(), Algorithm: ES256}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := jwk.Parse(jwks)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set))
	if err != nil {
		t.Fatalf("jwx: %v", err)
	}
	d := decode(t, tok, EncodingBase64URL)
	var viaJSON map[string]any
	if err := json.Unmarshal(d.payload, &viaJSON); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"quote\"d", "ünï\u2028", "html", "bad", "list", "num", "azp", "http://wso2.org/claims/applicationid"} {
		v, ok := parsed.Get(name)
		if !ok {
			t.Errorf("jwx has no %q", name)
			continue
		}
		got := roundTrip(t, map[string]any{"v": v})["v"]
		if !reflect.DeepEqual(got, viaJSON[name]) {
			t.Errorf("%q: jwx %#v, encoding/json %#v", name, got, viaJSON[name])
		}
	}
	if viaJSON["bad"] != "\ufffd\ufffd" || viaJSON["html"] != "<&>" {
		t.Errorf("bad %q html %q", viaJSON["bad"], viaJSON["html"])
	}
}
