package jwtgen

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

// Test keys, made once per test binary (RSA generation is slow).
var (
	testRSA2048 = sync.OnceValue(func() crypto.Signer { return mustKey(rsa.GenerateKey(rand.Reader, 2048)) })
	testRSA1024 = sync.OnceValue(func() crypto.Signer { return mustKey(rsa.GenerateKey(rand.Reader, 1024)) })
	testP256    = sync.OnceValue(func() crypto.Signer { return mustKey(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	testP384    = sync.OnceValue(func() crypto.Signer { return mustKey(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)) })
	testEd25519 = sync.OnceValue(func() crypto.Signer {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return mustKey(k, err)
	})
)

func mustKey[K crypto.Signer](k K, err error) crypto.Signer {
	if err != nil {
		panic(err)
	}
	return k
}

// signingAlgs are the algorithms that sign.
var signingAlgs = []string{RS256, PS256, ES256, EdDSA}

// keyFor returns the test key for alg (nil for none).
func keyFor(alg string) crypto.Signer {
	switch alg {
	case RS256, PS256:
		return testRSA2048()
	case ES256:
		return testP256()
	case EdDSA:
		return testEd25519()
	}
	return nil
}

// newCert returns a certificate for key's public key, signed by parentKey
// under parent (self-signed when parent is nil).
func newCert(t testing.TB, cn string, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  parent == nil,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return cert
}

// The worked example of /work/shared/examples/wso2-access-token.md.
const (
	exampleAccessToken = `{
  "sub": "admin@carbon.super",
  "aud": "JzCLuJq6kHIpMhK7C5OhiWN7cPsa",
  "nbf": 1595447942,
  "azp": "JzCLuJq6kHIpMhK7C5OhiWN7cPsa",
  "scope": "am_application_scope default",
  "iss": "https://localhost:9443/oauth2/token",
  "keytype": "PRODUCTION",
  "application": {
    "owner": "admin",
    "tier": "Unlimited",
    "name": "DefaultApplication",
    "id": 1,
    "uuid": "3f1c4d2e-6a0b-4c5d-9e8f-7a6b5c4d3e2f"
  },
  "tierInfo": {"Gold": {"stopOnQuotaReach": true, "spikeArrestLimit": 0, "spikeArrestUnit": null}},
  "subscribedAPIs": [
    {
      "subscriberTenantDomain": "carbon.super",
      "name": "PizzaShackAPI",
      "context": "/pizzashack/1.0.0",
      "publisher": "admin",
      "version": "1.0.0",
      "subscriptionTier": "Gold"
    }
  ],
  "exp": 1595451542,
  "iat": 1595447942,
  "jti": "0987c6d3-f11a-402c-8eb2-b21fb7b97f4d"
}`
	exampleExp = 1595451542
)

// rawClaims splits a JSON object into its members, as a validator hands
// them over.
func rawClaims(t testing.TB, obj string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(obj), &m); err != nil {
		t.Fatalf("claims: %v", err)
	}
	return m
}

// exampleInput is the example's request at now: API PizzaShackAPI 1.0.0
// /pizzashack and the Gold subscription.
func exampleInput(t testing.TB, now time.Time) *Input {
	return &Input{
		Claims:       rawClaims(t, exampleAccessToken),
		API:          &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"},
		Subscription: &Subscription{Tier: "Gold", TenantDomain: "carbon.super"},
		Now:          now,
		NotAfter:     time.Unix(exampleExp, 0),
	}
}

// liveInput is a copy of the example input at the real time, with a
// NotAfter an hour ahead, for verifiers that check exp.
func liveInput(t testing.TB) *Input {
	in := exampleInput(t, time.Now())
	in.NotAfter = in.Now.Add(time.Hour)
	return in
}

// defaultConfig is the example's generate block: all defaults, with alg
// and its test key.
func defaultConfig(alg string) Config {
	return Config{
		Issuer:    DefaultIssuer,
		Audience:  []string{DefaultAudience},
		Dialect:   DefaultDialect,
		Algorithm: alg,
		Key:       keyFor(alg),
		Lifetime:  15 * time.Minute,
	}
}

func mustNew(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

func mustGenerate(t testing.TB, g *Generator, in *Input) string {
	t.Helper()
	tok, _, err := g.Generate(in)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return tok
}

// decoded is a token taken apart.
type decoded struct {
	header       map[string]any
	payload      []byte // the payload JSON
	claims       map[string]any
	signingInput []byte // header.payload as transmitted
	sig          []byte
}

// encodingFor returns the decoder of the named encoding, strict about padding.
func encodingFor(name string) *base64.Encoding {
	if name == EncodingBase64 {
		return base64.RawStdEncoding.Strict()
	}
	return base64.RawURLEncoding.Strict()
}

// decode takes tok apart with the named encoding; claims are decoded with
// numbers as json.Number.
func decode(t testing.TB, tok, encoding string) decoded {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	enc := encodingFor(encoding)
	var d decoded
	hdr, err := enc.DecodeString(parts[0])
	if err != nil {
		t.Fatalf("header encoding: %v", err)
	}
	if d.payload, err = enc.DecodeString(parts[1]); err != nil {
		t.Fatalf("payload encoding: %v", err)
	}
	if d.sig, err = enc.DecodeString(parts[2]); err != nil {
		t.Fatalf("signature encoding: %v", err)
	}
	if err := json.Unmarshal(hdr, &d.header); err != nil {
		t.Fatalf("header JSON %s: %v", hdr, err)
	}
	dec := json.NewDecoder(bytes.NewReader(d.payload))
	dec.UseNumber()
	if err := dec.Decode(&d.claims); err != nil {
		t.Fatalf("payload JSON %s: %v", d.payload, err)
	}
	d.signingInput = []byte(parts[0] + "." + parts[1])
	return d
}

// verifyStd checks a JWS signature with the standard library only.
func verifyStd(alg string, pub crypto.PublicKey, input, sig []byte) error {
	h := sha256.Sum256(input)
	switch alg {
	case RS256:
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, h[:], sig)
	case PS256:
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case ES256:
		if len(sig) != 64 {
			return errors.New("ES256 signature is not 64 bytes")
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub.(*ecdsa.PublicKey), h[:], r, s) {
			return errors.New("ecdsa: verification error")
		}
		return nil
	case EdDSA:
		if !ed25519.Verify(pub.(ed25519.PublicKey), input, sig) {
			return errors.New("ed25519: verification error")
		}
		return nil
	}
	return errors.New("unknown alg " + alg)
}

// num returns the integer value of a decoded JSON number claim.
func num(t testing.TB, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%v is not an integer: %v", v, err)
	}
	return i
}

// payloadKeys returns the member names of a JSON object in document order.
func payloadKeys(t testing.TB, obj []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber() // numbers beyond float64 (1e1000) are valid JSON
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %v", err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("key: %v", err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("value: %v", err)
		}
	}
	return keys
}

// customGenerator embeds the built-in generator and replaces only its
// CustomClaims step.
type customGenerator struct{ WSO2Claims }

func (customGenerator) CustomClaims(_ *Input, c *Claims) error {
	c.Set("custom", "claim")
	return nil
}

// funcGenerator runs its funcs as the two steps (nil: the built-in step).
type funcGenerator struct {
	standard func(*Input, *Claims) error
	custom   func(*Input, *Claims) error
}

func (f funcGenerator) StandardClaims(in *Input, c *Claims) error {
	if f.standard == nil {
		return WSO2Claims{}.StandardClaims(in, c)
	}
	return f.standard(in, c)
}

func (f funcGenerator) CustomClaims(in *Input, c *Claims) error {
	if f.custom == nil {
		return WSO2Claims{}.CustomClaims(in, c)
	}
	return f.custom(in, c)
}

// testThumbprint computes the RFC 7638 thumbprint independently of
// Thumbprint: the required members through encoding/json (which sorts map
// keys and writes no whitespace).
func testThumbprint(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	var m map[string]string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m = map[string]string{"kty": "RSA", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		e, err := k.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		pt := e.Bytes()[1:]
		m = map[string]string{"kty": "EC", "crv": k.Curve.Params().Name, "x": b64(pt[:len(pt)/2]), "y": b64(pt[len(pt)/2:])}
	case ed25519.PublicKey:
		m = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(k)}
	default:
		t.Fatalf("key type %T", pub)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return b64(sum[:])
}

// hexSHA1Base64URLPadded is the WSO2 x5t, computed step by step.
func hexSHA1Base64URLPadded(der []byte) string {
	sum := sha1.Sum(der)
	hexed := fmt.Sprintf("%x", sum)
	return base64.URLEncoding.EncodeToString([]byte(hexed))
}
