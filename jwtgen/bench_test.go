package jwtgen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The benchmarks put each Generate next to the bare signature it needs, so
// that the ratio of their rates can be read from one run:
//
//	go test -run x -bench . -benchmem ./jwtgen/
//
// The bare signatures sign an input as long as a real signing input of the
// worked example.

// BenchmarkGenerate measures Generate of the worked example per algorithm.
func BenchmarkGenerate(b *testing.B) {
	for _, alg := range []string{RS256, PS256, ES256, EdDSA, None} {
		b.Run(alg, func(b *testing.B) {
			g := mustNew(b, defaultConfig(alg))
			in := liveInput(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := g.Generate(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// convertInput is the worked example with 20 more copied claims, 14 of
// them of OIDC names that Config.ConvertDialect converts.
func convertInput(b *testing.B) *Input {
	in := liveInput(b)
	for name, v := range map[string]string{
		"email": `"admin@example.com"`, "given_name": `"Ad"`, "family_name": `"Min"`,
		"phone_number": `"+94 11 000 0000"`, "name": `"Ad Min"`, "preferred_username": `"admin"`,
		"nickname": `"root"`, "groups": `["admin","ops"]`, "roles": `["Internal/publisher"]`,
		"email_verified": `true`, "locale": `"en-LK"`, "zoneinfo": `"Asia/Colombo"`,
		"country": `"LK"`, "updated_at": `1595440000`,
		"department": `"platform"`, "employee_id": `"E-1042"`, "cost_center": `"CC-7"`,
		"org": `"wso2"`, "realm": `{"mgt":"KM"}`, "client_id": `"JzCLuJq6kHIpMhK7C5OhiWN7cPsa"`,
	} {
		in.Claims[name] = json.RawMessage(v)
	}
	return in
}

// preconvertedInput is convertInput with the claims already under the
// names the conversion gives them: with conversion off it yields the same
// payload as convertInput with conversion on.
func preconvertedInput(b *testing.B) *Input {
	in := convertInput(b)
	table := DefaultDialectTable()
	for name, raw := range in.Claims {
		if local, ok := table[name]; ok {
			delete(in.Claims, name)
			in.Claims[DefaultDialect+"/"+local] = raw
		}
	}
	return in
}

// BenchmarkGenerateConvert measures Generate of the worked example with 20
// more copied claims, without (off) and with (on) dialect conversion,
// unsigned (none, so that no signature hides the claims' cost), signed
// with EdDSA, and with RS256 (what WSO2 signs with, the default). The conversion is precomputed in New: on costs one map lookup
// per claim, as off does, and writes longer names. The on-vs-off case
// alternates one Generate of each per iteration, so both see the same
// machine load, and reports on's time as a percentage of off's
// (on-%-of-off; target at most 105).
func BenchmarkGenerateConvert(b *testing.B) {
	for _, alg := range []string{None, EdDSA, RS256} {
		gens := [2]*Generator{}
		for i, convert := range []bool{false, true} {
			cfg := defaultConfig(alg)
			cfg.ConvertDialect = convert
			gens[i] = mustNew(b, cfg)
		}
		for i, name := range []string{"off", "on"} {
			b.Run(alg+"/"+name, func(b *testing.B) {
				g, in := gens[i], convertInput(b)
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := g.Generate(in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		for _, cmp := range []struct {
			name string
			off  func(*testing.B) *Input
		}{
			{name: "on-vs-off", off: convertInput},
			{name: "on-vs-preconverted", off: preconvertedInput},
		} {
			b.Run(alg+"/"+cmp.name, func(b *testing.B) {
				ins := [2]*Input{cmp.off(b), convertInput(b)}
				var took [2]time.Duration
				for b.Loop() {
					for i, g := range gens {
						t0 := time.Now()
						if _, _, err := g.Generate(ins[i]); err != nil {
							b.Fatal(err)
						}
						took[i] += time.Since(t0)
					}
				}
				n := float64(b.N)
				b.ReportMetric(float64(took[0].Nanoseconds())/n, "off-ns/op")
				b.ReportMetric(float64(took[1].Nanoseconds())/n, "on-ns/op")
				b.ReportMetric(100*float64(took[1])/float64(took[0]), "on-%-of-off")
			})
		}
	}
}

// benchSigningInput returns a signing input of the worked example's size.
func benchSigningInput(b *testing.B) []byte {
	tok := mustGenerate(b, mustNew(b, defaultConfig(None)), liveInput(b))
	return []byte(strings.TrimSuffix(tok, "."))
}

// BenchmarkBareSign measures the standard library signatures alone: RSA
// PKCS#1 v1.5 and PSS of a SHA-256 digest, ECDSA P-256 of a digest, and
// Ed25519 of the input.
func BenchmarkBareSign(b *testing.B) {
	input := benchSigningInput(b)
	digest := sha256.Sum256(input)
	b.Run("RSA-PKCS1v15", func(b *testing.B) {
		key := keyFor(RS256).(*rsa.PrivateKey)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RSA-PSS", func(b *testing.B) {
		key := keyFor(PS256).(*rsa.PrivateKey)
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ECDSA-P256", func(b *testing.B) {
		key := keyFor(ES256).(*ecdsa.PrivateKey)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := ecdsa.Sign(rand.Reader, key, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Ed25519", func(b *testing.B) {
		key := keyFor(EdDSA).(ed25519.PrivateKey)
		b.ReportAllocs()
		for b.Loop() {
			ed25519.Sign(key, input)
		}
	})
}

// BenchmarkTokenCacheHit measures a cache hit: Get alone with the key
// already made, and with the key made from the inbound token (CacheKey,
// which hashes the whole token) or from its digest (CacheKeyDigest).
func BenchmarkTokenCacheHit(b *testing.B) {
	inbound := mustGenerate(b, mustNew(b, defaultConfig(RS256)), liveInput(b))
	digest := sha256.Sum256([]byte(inbound))
	now := time.Now()
	mint := func() (string, time.Time, error) { return "backend-token", now.Add(time.Hour), nil }
	for _, tc := range []struct {
		name string
		key  func() string
	}{
		{name: "Get", key: nil},
		{name: "CacheKey+Get", key: func() string { return CacheKey(inbound, "PizzaShackAPI", "1.0.0") }},
		{name: "CacheKeyDigest+Get", key: func() string { return CacheKeyDigest(digest, "PizzaShackAPI", "1.0.0") }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cache := NewTokenCache(10000, 0.25)
			fixed := CacheKey(inbound, "PizzaShackAPI", "1.0.0")
			if tc.key != nil {
				fixed = tc.key()
			}
			if _, _, err := cache.Get(fixed, now, 5*time.Second, mint); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				key := fixed
				if tc.key != nil {
					key = tc.key()
				}
				_, hit, err := cache.Get(key, now, 5*time.Second, mint)
				if err != nil || !hit {
					b.Fatal("miss", err)
				}
			}
		})
	}
}

// BenchmarkTokenCacheMemory reports the heap taken by 10,000 cached RS256
// tokens of the worked example, in MiB (target at most 30).
func BenchmarkTokenCacheMemory(b *testing.B) {
	tok := mustGenerate(b, mustNew(b, defaultConfig(RS256)), liveInput(b))
	var mib float64
	for b.Loop() {
		before := heapInUse()
		cache := NewTokenCache(10000, 0.25)
		fillWithTokens(b, cache, tok, 10000)
		mib = float64(int64(heapInUse())-int64(before)) / (1 << 20)
		if cache.Len() != 10000 {
			b.Fatalf("cache holds %d", cache.Len())
		}
	}
	b.ReportMetric(mib, "MiB/10k-tokens")
}

// bareSigner returns the bare standard-library signature for alg over the
// signing input (RSA and ECDSA sign its precomputed SHA-256 digest).
func bareSigner(alg string, input []byte) func() error {
	digest := sha256.Sum256(input)
	switch alg {
	case RS256:
		key := keyFor(alg).(*rsa.PrivateKey)
		return func() error { _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); return err }
	case PS256:
		key := keyFor(alg).(*rsa.PrivateKey)
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		return func() error { _, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], opts); return err }
	case ES256:
		key := keyFor(alg).(*ecdsa.PrivateKey)
		return func() error { _, _, err := ecdsa.Sign(rand.Reader, key, digest[:]); return err }
	case EdDSA:
		key := keyFor(alg).(ed25519.PrivateKey)
		return func() error { ed25519.Sign(key, input); return nil }
	}
	return nil
}

// BenchmarkGenerateVsBare alternates one Generate and one bare signature
// per iteration, so both see the same machine load, and reports the rate of
// Generate as a percentage of the bare signature's rate (gen-%-of-bare;
// targets: RS256 at least 90, ES256 and EdDSA at least 75).
func BenchmarkGenerateVsBare(b *testing.B) {
	input := benchSigningInput(b)
	for _, alg := range signingAlgs {
		b.Run(alg, func(b *testing.B) {
			g := mustNew(b, defaultConfig(alg))
			in := liveInput(b)
			bare := bareSigner(alg, input)
			var genTime, bareTime time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, _, err := g.Generate(in); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := bare(); err != nil {
					b.Fatal(err)
				}
				genTime += t1.Sub(t0)
				bareTime += time.Since(t1)
			}
			n := float64(b.N)
			b.ReportMetric(float64(genTime.Nanoseconds())/n, "gen-ns/op")
			b.ReportMetric(float64(bareTime.Nanoseconds())/n, "bare-ns/op")
			b.ReportMetric(100*float64(bareTime)/float64(genTime), "gen-%-of-bare")
		})
	}
}
