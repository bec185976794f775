package benchkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// What the benchmark's access tokens and Caddyfiles agree on.
const (
	// Issuer is the iss of the access tokens (a WSO2 API Manager token endpoint).
	Issuer = "https://localhost:9443/oauth2/token"
	// APIName, APIVersion and APIContext are the API the route serves.
	APIName, APIVersion, APIContext = "PizzaShackAPI", "1.0.0", "/pizzashack"
	// RequestPath is the path every benchmark request asks for.
	RequestPath = "/pizzashack/1.0.0/menu"
	// TokenLifetime is how long a minted access token stays valid.
	TokenLifetime = 2 * time.Hour
)

// Minter makes WSO2 API Manager style access tokens of Issuer, all alike but
// for their sub and jti, signed by the issuer key: RS256 (WSO2's own), EdDSA
// or ES256. The tokens have no kid: the issuer is configured with a
// certificate. It is safe for concurrent use.
type Minter struct {
	alg    string
	key    crypto.Signer
	header string // the encoded JOSE header and the dot after it
	now    int64
}

// NewMinter returns a Minter signing with key, an RSA, Ed25519 or P-256 key.
func NewMinter(key crypto.Signer) (*Minter, error) {
	var alg string
	switch k := key.(type) {
	case *rsa.PrivateKey:
		alg = "RS256"
	case ed25519.PrivateKey:
		alg = "EdDSA"
	case *ecdsa.PrivateKey:
		if k.Curve.Params().BitSize != 256 {
			return nil, fmt.Errorf("ECDSA issuer key on %s: want P-256", k.Curve.Params().Name)
		}
		alg = "ES256"
	default:
		return nil, fmt.Errorf("issuer key of type %T: want RSA, Ed25519 or P-256", key)
	}
	h, err := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	if err != nil {
		return nil, fmt.Errorf("encoding the JOSE header: %w", err)
	}
	return &Minter{alg: alg, key: key, header: b64(h) + ".", now: time.Now().Unix()}, nil
}

// Alg is the JWS algorithm of the minted tokens.
func (m *Minter) Alg() string { return m.alg }

// Mint returns access token number i; distinct i give distinct tokens.
func (m *Minter) Mint(i int) (string, error) {
	payload, err := json.Marshal(m.claims(i))
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	input := m.header + b64(payload)
	sig, err := m.sign([]byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// MintAll mints tokens 0 to n-1 on all cores.
func (m *Minter) MintAll(n int) ([]string, error) { return m.MintRange(0, n) }

// MintRange mints tokens from to to-1 on all cores.
func (m *Minter) MintRange(from, to int) ([]string, error) {
	tokens := make([]string, max(0, to-from))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) {
					return
				}
				if tokens[i], errs[w] = m.Mint(from + i); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return tokens, nil
}

func (m *Minter) sign(input []byte) ([]byte, error) {
	switch k := m.key.(type) {
	case *rsa.PrivateKey:
		digest := sha256.Sum256(input)
		sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
		if err != nil {
			return nil, fmt.Errorf("signing RS256: %w", err)
		}
		return sig, nil
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input), nil
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return nil, fmt.Errorf("signing ES256: %w", err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	}
	return nil, fmt.Errorf("cannot sign with %T", m.key)
}

// accessClaims are the claims of a WSO2 API Manager access token.
type accessClaims struct {
	Sub            string         `json:"sub"`
	Aud            string         `json:"aud"`
	Nbf            int64          `json:"nbf"`
	Azp            string         `json:"azp"`
	Scope          string         `json:"scope"`
	Iss            string         `json:"iss"`
	KeyType        string         `json:"keytype"`
	Application    application    `json:"application"`
	SubscribedAPIs []subscription `json:"subscribedAPIs"`
	Exp            int64          `json:"exp"`
	Iat            int64          `json:"iat"`
	Jti            string         `json:"jti"`
}

type application struct {
	Owner string `json:"owner"`
	Tier  string `json:"tier"`
	Name  string `json:"name"`
	ID    int    `json:"id"`
	UUID  string `json:"uuid"`
}

type subscription struct {
	SubscriberTenantDomain string `json:"subscriberTenantDomain"`
	Name                   string `json:"name"`
	Context                string `json:"context"`
	Publisher              string `json:"publisher"`
	Version                string `json:"version"`
	SubscriptionTier       string `json:"subscriptionTier"`
}

func (m *Minter) claims(i int) *accessClaims {
	n := strconv.Itoa(i)
	return &accessClaims{
		Sub: "user" + n + "@carbon.super", Aud: "JzCLuJq6kHIpMhK7C5OhiWN7cPsa", Nbf: m.now,
		Azp: "JzCLuJq6kHIpMhK7C5OhiWN7cPsa", Scope: "am_application_scope default",
		Iss: Issuer, KeyType: "PRODUCTION",
		Application: application{Owner: "admin", Tier: "Unlimited", Name: "DefaultApplication", ID: 1,
			UUID: "3f1c4d2e-6a0b-4c5d-9e8f-7a6b5c4d3e2f"},
		SubscribedAPIs: []subscription{{SubscriberTenantDomain: "carbon.super", Name: APIName,
			Context: APIContext + "/" + APIVersion, Publisher: "admin", Version: APIVersion, SubscriptionTier: "Gold"}},
		Exp: m.now + int64(TokenLifetime/time.Second), Iat: m.now, Jti: "bench-" + n,
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// The upstream's report to the load generator.
const (
	// BackendHeader is the request header backend_jwt fills (its default).
	BackendHeader = "X-JWT-Assertion"
	// SawHeader is the response header in which the upstream says whether
	// the request it got carried BackendHeader: "present" or "absent".
	SawHeader = "X-Bench-Backend-Jwt"
)
