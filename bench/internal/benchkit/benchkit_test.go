package benchkit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math"
	"os"
	"path/filepath"
	"slices"
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
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []crypto.Signer{rsaKey, ed, p256} {
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

// A token file grows by the tokens it lacks, numbered after those it holds,
// and gives back the first n.
func TestTokenFile(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMinter(ed)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.MintAll(30)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokens")
	for _, step := range []struct{ extendTo, minted, read int }{
		{10, 10, 10}, // a new file
		{5, 0, 5},    // it holds enough
		{30, 20, 40}, // it grows; a read beyond it gets what there is
	} {
		minted, err := ExtendTokenFile(path, m, step.extendTo)
		if err != nil {
			t.Fatal(err)
		}
		if minted != step.minted {
			t.Errorf("extending to %d minted %d, want %d", step.extendTo, minted, step.minted)
		}
		got, err := ReadTokens(path, step.read)
		if err != nil {
			t.Fatal(err)
		}
		if n := min(step.read, max(step.extendTo, 10)); !slices.Equal(got, want[:n]) {
			t.Errorf("after extending to %d, reading %d gave %d tokens, not tokens 0 to %d", step.extendTo, step.read, len(got), n-1)
		}
	}
	if _, err := ReadTokens(filepath.Join(t.TempDir(), "none"), 1); err == nil {
		t.Error("reading a missing token file gave no error")
	}
	if err := os.WriteFile(path, []byte("a\n\nb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokens(path, 3); err == nil {
		t.Error("a token file with an empty line gave no error")
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
