package jwtgen

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestSignaturesVerify checks every algorithm in both encodings with the
// standard library's verifiers, and that a changed token fails.
func TestSignaturesVerify(t *testing.T) {
	for _, alg := range signingAlgs {
		for _, encoding := range []string{EncodingBase64URL, EncodingBase64} {
			t.Run(alg+"/"+encoding, func(t *testing.T) {
				cfg := defaultConfig(alg)
				cfg.Encoding = encoding
				g := mustNew(t, cfg)
				tok := mustGenerate(t, g, exampleInput(t, time.Unix(1595447942, 0)))
				d := decode(t, tok, encoding)
				pub := cfg.Key.Public()
				if err := verifyStd(alg, pub, d.signingInput, d.sig); err != nil {
					t.Fatalf("signature does not verify: %v", err)
				}
				if d.header["alg"] != alg || d.header["typ"] != "JWT" || d.header["kid"] != testThumbprint(t, pub) {
					t.Errorf("header %v", d.header)
				}
				// The signature covers the parts as transmitted, not a
				// re-encoding in the other alphabet.
				other := base64.RawURLEncoding
				if encoding == EncodingBase64URL {
					other = base64.RawStdEncoding
				}
				parts := strings.Split(tok, ".")
				reencoded := []byte(other.EncodeToString(mustDecode(t, encoding, parts[0])) + "." + other.EncodeToString(d.payload))
				if string(reencoded) != string(d.signingInput) {
					if err := verifyStd(alg, pub, reencoded, d.sig); err == nil {
						t.Error("signature also verifies over the other encoding")
					}
				}
				tampered := append([]byte(nil), d.signingInput...)
				tampered[len(tampered)-1] ^= 1
				if err := verifyStd(alg, pub, tampered, d.sig); err == nil {
					t.Error("tampered input verifies")
				}
				if strings.ContainsRune(tok, '=') {
					t.Error("padding in token")
				}
			})
		}
	}
}

func mustDecode(t *testing.T, encoding, s string) []byte {
	t.Helper()
	b, err := encodingFor(encoding).DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodingAlphabet checks that base64 tokens use the standard alphabet
// and base64url tokens the URL alphabet, with a payload that needs the
// characters that differ.
func TestEncodingAlphabet(t *testing.T) {
	// "??>" encodes to "Pz8+" / "Pz8-" and "???" to "Pz8/" / "Pz8_".
	in := &Input{Now: time.Now(), Claims: map[string]json.RawMessage{"q": json.RawMessage(`"??>???>>>???"`)}}
	for _, tc := range []struct {
		encoding string
		want     string
		refuse   string
	}{
		{encoding: EncodingBase64URL, want: "-_", refuse: "+/="},
		{encoding: EncodingBase64, want: "+/", refuse: "-_="},
	} {
		t.Run(tc.encoding, func(t *testing.T) {
			cfg := defaultConfig(None)
			cfg.Encoding = tc.encoding
			tok := mustGenerate(t, mustNew(t, cfg), in)
			payload := strings.Split(tok, ".")[1]
			if !strings.ContainsAny(payload, tc.want) || strings.ContainsAny(payload, tc.refuse) {
				t.Errorf("%s payload %s", tc.encoding, payload)
			}
			if d := decode(t, tok, tc.encoding); d.claims["q"] != "??>???>>>???" {
				t.Errorf("q = %v", d.claims["q"])
			}
		})
	}
}

// TestNone checks algorithm none: header.payload. with no kid.
func TestNone(t *testing.T) {
	for _, name := range []string{"none", "NONE"} {
		t.Run(name, func(t *testing.T) {
			cfg := defaultConfig(None)
			cfg.Algorithm = name
			g := mustNew(t, cfg)
			if _, ok := g.PublicKey(); ok || g.KeyID() != "" || g.Algorithm() != None {
				t.Errorf("KeyID %q, Algorithm %q", g.KeyID(), g.Algorithm())
			}
			tok := mustGenerate(t, g, exampleInput(t, time.Unix(1595447942, 0)))
			if !strings.HasSuffix(tok, ".") || strings.Count(tok, ".") != 2 {
				t.Fatalf("token %q is not header.payload.", tok)
			}
			d := decode(t, tok, EncodingBase64URL)
			if want := map[string]any{"typ": "JWT", "alg": "none"}; !reflect.DeepEqual(d.header, want) {
				t.Errorf("header %v, want %v", d.header, want)
			}
			if len(d.sig) != 0 || d.claims["sub"] != "admin@carbon.super" {
				t.Errorf("sig %x, claims %v", d.sig, d.claims)
			}
		})
	}
}

// TestHeaderCertificate checks x5t in each format and x5c only when asked.
func TestHeaderCertificate(t *testing.T) {
	key := keyFor(ES256)
	caKey := keyFor(EdDSA)
	ca := newCert(t, "test CA", caKey, nil, nil)
	leaf := newCert(t, "backend", key, ca, caKey)
	sum := sha1.Sum(leaf.Raw)
	wso2 := hexSHA1Base64URLPadded(leaf.Raw)
	rfc := base64.RawURLEncoding.EncodeToString(sum[:])
	chain := []any{base64.StdEncoding.EncodeToString(leaf.Raw), base64.StdEncoding.EncodeToString(ca.Raw)}

	if !strings.HasSuffix(wso2, "=") || len(wso2) != 56 {
		t.Fatalf("the test's wso2 x5t %q is not 40 hex characters padded", wso2)
	}
	for _, tc := range []struct {
		name    string
		certs   []*x509.Certificate
		x5t     string
		x5c     bool
		wantX5T any // nil: absent
		wantX5C any
	}{
		{name: "default is wso2", certs: []*x509.Certificate{leaf}, wantX5T: wso2},
		{name: "wso2", certs: []*x509.Certificate{leaf}, x5t: X5TWSO2, wantX5T: wso2},
		{name: "rfc7515", certs: []*x509.Certificate{leaf}, x5t: X5TRFC7515, wantX5T: rfc},
		{name: "off", certs: []*x509.Certificate{leaf}, x5t: X5TOff},
		{name: "no certificate", x5t: X5TWSO2},
		{name: "x5c chain", certs: []*x509.Certificate{leaf, ca}, x5c: true, wantX5T: wso2, wantX5C: chain},
		{name: "x5c with x5t off", certs: []*x509.Certificate{leaf, ca}, x5t: X5TOff, x5c: true, wantX5C: chain},
		{name: "chain without x5c", certs: []*x509.Certificate{leaf, ca}, x5t: X5TRFC7515, wantX5T: rfc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig(ES256)
			cfg.Certificates, cfg.X5T, cfg.X5C = tc.certs, tc.x5t, tc.x5c
			d := decode(t, mustGenerate(t, mustNew(t, cfg), liveInput(t)), EncodingBase64URL)
			want := map[string]any{"typ": "JWT", "alg": "ES256", "kid": testThumbprint(t, key.Public())}
			if tc.wantX5T != nil {
				want["x5t"] = tc.wantX5T
			}
			if tc.wantX5C != nil {
				want["x5c"] = tc.wantX5C
			}
			if !reflect.DeepEqual(d.header, want) {
				t.Errorf("header\n got %v\nwant %v", d.header, want)
			}
		})
	}
}

// TestKeyID checks the kid against the RFC 7638 example and an independent
// computation for each key type.
func TestKeyID(t *testing.T) {
	// RFC 7638 section 3.1.
	n, ok := new(big.Int).SetString("0"+hexOf(t, "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"), 16)
	if !ok {
		t.Fatal("bad modulus")
	}
	cases := []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{name: "RFC 7638 example", pub: &rsa.PublicKey{N: n, E: 65537}, want: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
	}
	for _, alg := range signingAlgs {
		pub := keyFor(alg).Public()
		cases = append(cases, struct {
			name string
			pub  crypto.PublicKey
			want string
		}{name: alg, pub: pub, want: testThumbprint(t, pub)})
	}
	cases = append(cases, struct {
		name string
		pub  crypto.PublicKey
		want string
	}{name: "P-384", pub: testP384().Public(), want: testThumbprint(t, testP384().Public())})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Thumbprint(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Thumbprint = %s, want %s", got, tc.want)
			}
		})
	}
	for _, alg := range signingAlgs {
		if g := mustNew(t, defaultConfig(alg)); g.KeyID() != testThumbprint(t, keyFor(alg).Public()) {
			t.Errorf("%s: KeyID %s", alg, g.KeyID())
		}
	}
	if _, err := Thumbprint("not a key"); err == nil {
		t.Error("Thumbprint of a string succeeded")
	}
}

func hexOf(t *testing.T, b64url string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(b64url)
	if err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(b).Text(16)
}

// TestAppendRawECDSA checks the DER to r||s conversion, including short
// and padded integers and malformed input.
func TestAppendRawECDSA(t *testing.T) {
	r32 := strings.Repeat("\x11", 32)
	for _, tc := range []struct {
		name    string
		der     string
		want    string
		wantErr bool
	}{
		{name: "full", der: "\x30\x44\x02\x20" + r32 + "\x02\x20" + r32, want: r32 + r32},
		{name: "leading zero for sign", der: "\x30\x46\x02\x21\x00" + strings.Repeat("\xff", 32) + "\x02\x21\x00" + strings.Repeat("\x80", 32), want: strings.Repeat("\xff", 32) + strings.Repeat("\x80", 32)},
		{name: "short integers", der: "\x30\x06\x02\x01\x05\x02\x01\x07", want: strings.Repeat("\x00", 31) + "\x05" + strings.Repeat("\x00", 31) + "\x07"},
		{name: "too long", der: "\x30\x46\x02\x21\x01" + r32 + "\x02\x21\x00" + r32, wantErr: true},
		{name: "bad length", der: "\x30\x05\x02\x01\x05\x02\x01\x07", wantErr: true},
		{name: "trailing data", der: "\x30\x07\x02\x01\x05\x02\x01\x07\x00", wantErr: true},
		{name: "not a sequence", der: "\x31\x06\x02\x01\x05\x02\x01\x07", wantErr: true},
		{name: "empty", der: "", wantErr: true},
		{name: "truncated integer", der: "\x30\x04\x02\x05\x05\x02", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := appendRawECDSA(nil, []byte(tc.der), 32)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && string(got) != tc.want {
				t.Errorf("got %x\nwant %x", got, tc.want)
			}
		})
	}
}

// signerOnly hides a key's concrete type, as an HSM-backed signer would.
type signerOnly struct{ crypto.Signer }

// TestGenericSigner checks that a crypto.Signer of another type signs
// through its Sign method, for every algorithm.
func TestGenericSigner(t *testing.T) {
	for _, alg := range signingAlgs {
		t.Run(alg, func(t *testing.T) {
			cfg := defaultConfig(alg)
			cfg.Key = signerOnly{keyFor(alg)}
			d := decode(t, mustGenerate(t, mustNew(t, cfg), liveInput(t)), EncodingBase64URL)
			if err := verifyStd(alg, cfg.Key.Public(), d.signingInput, d.sig); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}
