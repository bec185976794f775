package benchkit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"math"
	"testing"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

// The tokens the benchmark sends must be ones the module accepts, or the
// all-miss cases would measure refusals.
func TestMintedTokensValidate(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []crypto.Signer{ed, p256} {
		m, err := NewMinter(key)
		if err != nil {
			t.Fatal(err)
		}
		v, err := validator.New(context.Background(), validator.Config{
			Issuers: []validator.IssuerConfig{{
				Issuer: Issuer, PublicKeys: []crypto.PublicKey{key.Public()},
				Algorithms: []string{m.Alg()}, ValidateSubscription: true,
			}},
			API: &validator.API{Name: APIName, Version: APIVersion, Context: APIContext},
		})
		if err != nil {
			t.Fatal(err)
		}
		tokens, err := m.MintAll(20)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i, tok := range tokens {
			if seen[tok] {
				t.Fatalf("%s token %d repeats an earlier one", m.Alg(), i)
			}
			seen[tok] = true
			if _, err := v.Validate(tok); err != nil {
				t.Fatalf("%s token %d is refused: %v", m.Alg(), i, err)
			}
		}
	}
}

func TestPredict(t *testing.T) {
	// The example: about 7,400 req/s plain, RSA signing and
	// verification on the same machine give about 1,690 req/s.
	if got := Predict(7400, 2400, 25000); math.Abs(got-1690) > 20 {
		t.Errorf("Predict = %.0f, want about 1690", got)
	}
	if Predict(0, 1, 1) != 0 || Predict(1, 0, 1) != 0 {
		t.Error("Predict of a missing rate is not 0")
	}
}
