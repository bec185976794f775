package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

// ops holds the keys and inputs of the measured operations.
type ops struct {
	alg       string // the access tokens' alg
	rsaKey    *rsa.PrivateKey
	p256      *ecdsa.PrivateKey
	input     []byte // a signing input the size of a backend JWT's
	token     string // one access token of the all-miss cases
	signed    []byte // its signing input
	issuerPub crypto.PublicKey
	validator *validator.Validator
}

func newOps(dir string) (*ops, error) {
	o := &ops{}
	rsaSigner, err := benchkit.LoadSigner(keyPath(dir, benchkit.RSAKeyFile))
	if err != nil {
		return nil, err
	}
	p256Signer, err := benchkit.LoadSigner(keyPath(dir, benchkit.P256KeyFile))
	if err != nil {
		return nil, err
	}
	var ok1, ok2 bool
	o.rsaKey, ok1 = rsaSigner.(*rsa.PrivateKey)
	o.p256, ok2 = p256Signer.(*ecdsa.PrivateKey)
	if !ok1 || !ok2 {
		return nil, errors.New("the signing keys are not RSA and P-256")
	}
	issuerKey, err := benchkit.LoadSigner(keyPath(dir, benchkit.IssuerKeyFile))
	if err != nil {
		return nil, err
	}
	m, err := benchkit.NewMinter(issuerKey)
	if err != nil {
		return nil, err
	}
	if o.token, err = m.Mint(1); err != nil {
		return nil, err
	}
	o.alg, o.issuerPub = m.Alg(), issuerKey.Public()
	o.signed = []byte(o.token[:strings.LastIndexByte(o.token, '.')])
	// A backend JWT carries about the claims of the access token.
	o.input = o.signed
	o.validator, err = validator.New(context.Background(), validator.Config{
		Issuers: []validator.IssuerConfig{{
			Issuer: benchkit.Issuer, PublicKeys: []crypto.PublicKey{o.issuerPub}, ValidateSubscription: true,
		}},
		API:       &validator.API{Name: benchkit.APIName, Version: benchkit.APIVersion, Context: benchkit.APIContext},
		CacheSize: 0,
	})
	if err != nil {
		return nil, fmt.Errorf("building the validator: %w", err)
	}
	return o, nil
}

func (o *ops) signRSA() error {
	h := sha256.Sum256(o.input)
	if _, err := rsa.SignPKCS1v15(nil, o.rsaKey, crypto.SHA256, h[:]); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	return nil
}

func (o *ops) signES256() error {
	h := sha256.Sum256(o.input)
	if _, err := ecdsa.SignASN1(rand.Reader, o.p256, h[:]); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	return nil
}

// verify checks the access token's signature as the standard library
// does it, after decoding it from the token.
func (o *ops) verify() error {
	dot := strings.LastIndexByte(o.token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(o.token[dot+1:])
	if err != nil {
		return fmt.Errorf("decoding the signature: %w", err)
	}
	ok := false
	switch pub := o.issuerPub.(type) {
	case *rsa.PublicKey:
		h := sha256.Sum256(o.signed)
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
	case ed25519.PublicKey:
		ok = ed25519.Verify(pub, o.signed, sig)
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			break
		}
		h := sha256.Sum256(o.signed)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		ok = ecdsa.Verify(pub, h[:], r, s)
	}
	if !ok {
		return errors.New("the access token does not verify")
	}
	return nil
}

// validate runs the project's whole access-token check (parse, signature,
// claims, subscription) with the validated-token cache off.
func (o *ops) validate() error {
	if _, err := o.validator.Validate(o.token); err != nil {
		return fmt.Errorf("validating: %w", err)
	}
	return nil
}
