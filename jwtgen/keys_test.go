package jwtgen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustPKCS8(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func mustSEC1(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestParsePrivateKeyPEM checks each accepted form and each refusal.
func TestParsePrivateKeyPEM(t *testing.T) {
	rsaKey, ecKey, edKey := testRSA2048(), testP256(), testEd25519()
	cert := newCert(t, "c", ecKey, nil, nil)
	pkcs1 := pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey.(*rsa.PrivateKey)))
	sec1 := pemBlock("EC PRIVATE KEY", mustSEC1(t, ecKey))
	ecParams := pemBlock("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})
	certPEM := pemBlock("CERTIFICATE", cert.Raw)

	for _, tc := range []struct {
		name    string
		data    []byte
		want    crypto.Signer
		wantErr string
	}{
		{name: "PKCS#1 RSA", data: pkcs1, want: rsaKey},
		{name: "PKCS#8 RSA", data: pemBlock("PRIVATE KEY", mustPKCS8(t, rsaKey)), want: rsaKey},
		{name: "PKCS#8 ECDSA", data: pemBlock("PRIVATE KEY", mustPKCS8(t, ecKey)), want: ecKey},
		{name: "PKCS#8 Ed25519", data: pemBlock("PRIVATE KEY", mustPKCS8(t, edKey)), want: edKey},
		{name: "SEC 1", data: sec1, want: ecKey},
		{name: "SEC 1 after EC PARAMETERS", data: append(append([]byte("openssl output\n"), ecParams...), sec1...), want: ecKey},
		{name: "certificate then key", data: append(append([]byte(nil), certPEM...), sec1...), want: ecKey},
		{name: "not PEM", data: []byte("hello"), wantErr: "no PEM data"},
		{name: "empty", data: nil, wantErr: "no PEM data"},
		{name: "certificate only", data: certPEM, wantErr: "no private key"},
		{name: "garbage in a PRIVATE KEY block", data: pemBlock("PRIVATE KEY", []byte("secret-garbage-bytes")), wantErr: "PKCS#8"},
		{name: "PKCS#1 label on a PKCS#8 key", data: pemBlock("RSA PRIVATE KEY", mustPKCS8(t, rsaKey)), wantErr: "PKCS#1"},
		{name: "encrypted PKCS#8", data: pemBlock("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), wantErr: "encrypted"},
		{name: "legacy encrypted", data: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}}), wantErr: "encrypted"},
		{name: "two keys", data: append(append([]byte(nil), pkcs1...), sec1...), wantErr: "more than one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrivateKeyPEM(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				// No key material in the message: neither the PEM
				// text nor the DER bytes.
				if block, _ := pem.Decode(tc.data); block != nil && len(block.Bytes) > 2 {
					b64 := base64.StdEncoding.EncodeToString(block.Bytes)
					if strings.Contains(err.Error(), b64[:len(b64)/2]) || strings.Contains(err.Error(), string(block.Bytes)) {
						t.Errorf("error %q contains key material", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eq, ok := got.(interface{ Equal(crypto.PrivateKey) bool })
			if !ok || !eq.Equal(tc.want) {
				t.Errorf("parsed key %T differs from the original", got)
			}
		})
	}
}

// TestParseCertificatesPEM checks order, skipping of other blocks, and errors.
func TestParseCertificatesPEM(t *testing.T) {
	key := keyFor(ES256)
	a := newCert(t, "a", key, nil, nil)
	b := newCert(t, "b", key, nil, nil)
	for _, tc := range []struct {
		name    string
		data    []byte
		want    []string // subject CNs
		wantErr bool
	}{
		{name: "one", data: pemBlock("CERTIFICATE", a.Raw), want: []string{"a"}},
		{name: "chain in order", data: append(pemBlock("CERTIFICATE", a.Raw), pemBlock("CERTIFICATE", b.Raw)...), want: []string{"a", "b"}},
		{name: "key skipped", data: append(pemBlock("EC PRIVATE KEY", mustSEC1(t, key)), pemBlock("CERTIFICATE", b.Raw)...), want: []string{"b"}},
		{name: "none", data: []byte("nothing"), wantErr: true},
		{name: "broken certificate", data: pemBlock("CERTIFICATE", []byte{0x30, 0x01}), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certs, err := ParseCertificatesPEM(tc.data)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			var got []string
			for _, c := range certs {
				got = append(got, c.Subject.CommonName)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCheckKey checks the key fit rules and their messages.
func TestCheckKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		alg     string
		key     crypto.Signer
		wantErr string // "" = fits
	}{
		{name: "RS256 RSA 2048", alg: RS256, key: testRSA2048()},
		{name: "alias SHA256withRSA", alg: "SHA256withRSA", key: testRSA2048()},
		{name: "PS256 RSA 2048", alg: PS256, key: testRSA2048()},
		{name: "ES256 P-256", alg: ES256, key: testP256()},
		{name: "EdDSA Ed25519", alg: EdDSA, key: testEd25519()},
		{name: "none without key", alg: None, key: nil},
		{name: "RS256 RSA 1024", alg: RS256, key: testRSA1024(), wantErr: "RS256 needs an RSA key of at least 2048 bits, got 1024 bits"},
		{name: "PS256 RSA 1024", alg: PS256, key: testRSA1024(), wantErr: "PS256 needs an RSA key of at least 2048 bits, got 1024 bits"},
		{name: "ES256 P-384", alg: ES256, key: testP384(), wantErr: "ES256 needs a P-256 key, got P-384"},
		{name: "ES256 RSA", alg: ES256, key: testRSA2048(), wantErr: "ES256 needs an ECDSA P-256 key, got an RSA 2048-bit key"},
		{name: "EdDSA RSA", alg: EdDSA, key: testRSA2048(), wantErr: "EdDSA needs an Ed25519 key, got an RSA 2048-bit key"},
		{name: "EdDSA P-256", alg: EdDSA, key: testP256(), wantErr: "EdDSA needs an Ed25519 key, got an ECDSA P-256 key"},
		{name: "RS256 Ed25519", alg: RS256, key: testEd25519(), wantErr: "RS256 needs an RSA key, got an Ed25519 key"},
		{name: "RS256 no key", alg: RS256, key: nil, wantErr: "RS256 needs a signing key"},
		{name: "none with key", alg: None, key: testP256(), wantErr: "none takes no signing key"},
		{name: "unknown alg", alg: "HS256", key: testP256(), wantErr: `unknown algorithm "HS256"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckKey(tc.alg, tc.key)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestNewRejects checks the configuration errors New reports.
func TestNewRejects(t *testing.T) {
	otherKey, err := GenerateKey(ES256)
	if err != nil {
		t.Fatal(err)
	}
	other := newCert(t, "someone else", otherKey, nil, nil)
	rsaCert := newCert(t, "rsa", testRSA2048(), nil, nil)
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{name: "unknown algorithm", edit: func(c *Config) { c.Algorithm = "HS256" }, wantErr: "unknown algorithm"},
		{name: "lowercase alias", edit: func(c *Config) { c.Algorithm = "rs256" }, wantErr: "unknown algorithm"},
		{name: "key misfit", edit: func(c *Config) { c.Key = testP384() }, wantErr: "ES256 needs a P-256 key, got P-384"},
		{name: "certificate of another key", edit: func(c *Config) { c.Certificates = []*x509.Certificate{other} }, wantErr: "is not the signing key's"},
		{name: "certificate of another key type", edit: func(c *Config) { c.Certificates = []*x509.Certificate{rsaCert} }, wantErr: "is not the signing key's"},
		{name: "x5c without certificate", edit: func(c *Config) { c.X5C = true }, wantErr: "x5c needs a certificate"},
		{name: "unknown x5t", edit: func(c *Config) { c.X5T = "sha1" }, wantErr: "unknown x5t"},
		{name: "unknown encoding", edit: func(c *Config) { c.Encoding = "hex" }, wantErr: "unknown encoding"},
		{name: "lifetime under a second", edit: func(c *Config) { c.Lifetime = time.Millisecond }, wantErr: "shorter than one second"},
		{name: "negative lifetime", edit: func(c *Config) { c.Lifetime = -time.Minute }, wantErr: "shorter than one second"},
		{name: "no key", edit: func(c *Config) { c.Key = nil }, wantErr: "needs a signing key"},
		{name: "none with a key", edit: func(c *Config) { c.Algorithm = None }, wantErr: "none signs nothing"},
		{name: "none with a certificate", edit: func(c *Config) { c.Algorithm, c.Key, c.Certificates = None, nil, []*x509.Certificate{other} }, wantErr: "no certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig(ES256)
			tc.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	// The defaults: empty algorithm is RS256, empty issuer the default.
	g, err := New(Config{Key: testRSA2048()})
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, mustGenerate(t, g, &Input{Now: time.Now()}), EncodingBase64URL)
	if g.Algorithm() != RS256 || d.claims["iss"] != DefaultIssuer || g.Lifetime() != DefaultLifetime {
		t.Errorf("defaults: alg %s, iss %v, lifetime %v", g.Algorithm(), d.claims["iss"], g.Lifetime())
	}
}

// TestCanonicalAlgorithm checks names and aliases.
func TestCanonicalAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		wantErr  bool
	}{
		{in: "RS256", want: RS256}, {in: "SHA256withRSA", want: RS256}, {in: "PS256", want: PS256},
		{in: "ES256", want: ES256}, {in: "EdDSA", want: EdDSA}, {in: "none", want: None}, {in: "NONE", want: None},
		{in: "", wantErr: true}, {in: "HS256", wantErr: true}, {in: "RS384", wantErr: true}, {in: "ed25519", wantErr: true},
	} {
		t.Run("name="+tc.in, func(t *testing.T) {
			got, err := CanonicalAlgorithm(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("CanonicalAlgorithm(%q) = %q, %v", tc.in, got, err)
			}
		})
	}
}

// TestGenerateKeyRoundTrip checks that a managed key fits its algorithm and
// survives MarshalPrivateKeyPEM and ParsePrivateKeyPEM.
func TestGenerateKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		alg      string
		wantType string
	}{
		{alg: RS256, wantType: "*rsa.PrivateKey"}, {alg: "SHA256withRSA", wantType: "*rsa.PrivateKey"},
		{alg: PS256, wantType: "*rsa.PrivateKey"}, {alg: ES256, wantType: "*ecdsa.PrivateKey"},
		{alg: EdDSA, wantType: "ed25519.PrivateKey"},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			key, err := GenerateKey(tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckKey(tc.alg, key); err != nil {
				t.Errorf("generated key does not fit: %v", err)
			}
			if got := typeName(key); got != tc.wantType {
				t.Errorf("type %s, want %s", got, tc.wantType)
			}
			pemData, err := MarshalPrivateKeyPEM(key)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(pemData), "-----BEGIN PRIVATE KEY-----") {
				t.Errorf("not PKCS#8 PEM: %.40s", pemData)
			}
			back, err := ParsePrivateKeyPEM(pemData)
			if err != nil {
				t.Fatal(err)
			}
			if !back.(interface{ Equal(crypto.PrivateKey) bool }).Equal(key) {
				t.Error("round trip changed the key")
			}
		})
	}
	for _, alg := range []string{None, "HS256"} {
		if _, err := GenerateKey(alg); err == nil {
			t.Errorf("GenerateKey(%s) succeeded", alg)
		}
	}
	edPtr := testEd25519().(ed25519.PrivateKey)
	if _, err := MarshalPrivateKeyPEM(&edPtr); err != nil {
		t.Errorf("*ed25519.PrivateKey: %v", err)
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *rsa.PrivateKey:
		return "*rsa.PrivateKey"
	case *ecdsa.PrivateKey:
		return "*ecdsa.PrivateKey"
	case ed25519.PrivateKey:
		return "ed25519.PrivateKey"
	}
	return "other"
}
