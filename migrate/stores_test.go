package migrate

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"software.sslmate.com/src/go-pkcs12"
)

// Keys made once per test binary (RSA generation is slow).
var (
	keysOnce           sync.Once
	rsaA, rsaB, rsa1k  *rsa.PrivateKey
	ecKey              *ecdsa.PrivateKey
	certA, certB, cert *x509.Certificate
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&rsaA, &rsaB} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
		if rsa1k, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

// selfSigned is a certificate for key, valid for a day.
func selfSigned(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	return signedBy(t, key, cn, key, nil)
}

// jksEntry is an entry of a JKS store a test makes: a trusted
// certificate, or a private key (with its certificate) when key is set.
type jksEntry struct {
	alias string
	cert  *x509.Certificate
	key   crypto.Signer
}

// makeJKS writes a JKS store into the test's folder.
func makeJKS(t testing.TB, password string, entries ...jksEntry) string {
	t.Helper()
	ks := keystore.New()
	for _, e := range entries {
		c := keystore.Certificate{Type: "X509", Content: e.cert.Raw}
		if e.key == nil {
			if err := ks.SetTrustedCertificateEntry(e.alias, keystore.TrustedCertificateEntry{CreationTime: time.Now(), Certificate: c}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(e.key)
		if err != nil {
			t.Fatal(err)
		}
		pke := keystore.PrivateKeyEntry{CreationTime: time.Now(), PrivateKey: der, CertificateChain: []keystore.Certificate{c}}
		if err := ks.SetPrivateKeyEntry(e.alias, pke, []byte(password)); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := ks.Store(&b, []byte(password)); err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, "store.jks", b.Bytes())
}

// makePKCS12 writes a PKCS#12 keystore of one key (no friendly name: Go's
// encoder writes none).
func makePKCS12(t testing.TB, password string, key crypto.Signer, c *x509.Certificate) string {
	t.Helper()
	data, err := pkcs12.Modern.Encode(key, c, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, "store.p12", data)
}

// makeNamedPKCS12 is a password-less PKCS#12 keystore whose key bag has a
// friendly name, as keytool and OpenSSL write it, made by hand since Go's
// encoder writes no names.
func makeNamedPKCS12(t testing.TB, name string, key crypto.Signer, c *x509.Certificate) []byte {
	t.Helper()
	marshal := func(v any, params ...string) []byte {
		var b []byte
		var err error
		if len(params) > 0 {
			b, err = asn1.MarshalWithParams(v, params[0])
		} else {
			b, err = asn1.Marshal(v)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	u := utf16.Encode([]rune(name))
	bmp := make([]byte, 2*len(u))
	for i, r := range u {
		bmp[2*i], bmp[2*i+1] = byte(r>>8), byte(r)
	}
	friendly := p12BagAttribute{ID: oidFriendlyName, Values: asn1.RawValue{FullBytes: marshal(asn1.RawValue{Class: 0, Tag: asn1.TagSet, IsCompound: true,
		Bytes: marshal(asn1.RawValue{Class: 0, Tag: asn1.TagBMPString, Bytes: bmp})})}}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	explicit := func(inner []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
	}
	certBag := marshal(p12CertBag{ID: oidX509CertificateBag, Value: c.Raw})
	bags := marshal([]p12SafeBag{
		{ID: oidCertBag, Value: explicit(certBag)},
		{ID: oidKeyBag, Value: explicit(keyDER), Attributes: []p12BagAttribute{friendly}},
	})
	info := p12ContentInfo{ContentType: oidData, Content: explicit(marshal(bags))}
	authSafe := marshal([]p12ContentInfo{info})
	pfx := struct {
		Version  int
		AuthSafe p12ContentInfo
	}{3, p12ContentInfo{ContentType: oidData, Content: explicit(marshal(authSafe))}}
	return marshal(pfx)
}

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func openStore(t testing.TB, path, password string) *Store {
	t.Helper()
	s, err := OpenStore(path, password)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStores(t *testing.T) {
	testKeys(t)
	ca := selfSigned(t, rsaA, "issuer")
	gw := selfSigned(t, rsaB, "gateway")
	jks := makeJKS(t, "secret1", jksEntry{alias: "WSO2APIM310", cert: ca}, jksEntry{alias: "gateway", cert: gw, key: rsaB})
	p12 := makePKCS12(t, "secret2", rsaB, gw)
	named := writeTemp(t, "named.p12", makeNamedPKCS12(t, "Ballerina", rsaB, gw))

	tests := []struct {
		name, path, password string
		format               string
		aliases              []string
		cert                 string // an alias whose certificate must be found
		key                  string // an alias whose private key must be found
		note                 bool   // the lookup says it could not check the alias
	}{
		{"JKS trusted certificate", jks, "secret1", FormatJKS, []string{"gateway", "wso2apim310"}, "wso2apim310", "", false},
		{"JKS alias of another case", jks, "secret1", FormatJKS, []string{"gateway", "wso2apim310"}, "WSO2apim310", "", false},
		{"JKS private key", jks, "secret1", FormatJKS, []string{"gateway", "wso2apim310"}, "gateway", "gateway", false},
		{"PKCS#12 without a friendly name", p12, "secret2", FormatPKCS12, nil, "any", "any", true},
		{"PKCS#12 with a friendly name", named, "", FormatPKCS12, []string{"ballerina"}, "ballerina", "BALLERINA", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, tt.path, tt.password)
			if s.Format != tt.format {
				t.Errorf("format %s, want %s", s.Format, tt.format)
			}
			if got := s.Aliases(); !equalStrings(got, tt.aliases) {
				t.Errorf("aliases %q, want %q", got, tt.aliases)
			}
			certs, note, err := s.certificates(tt.cert)
			if err != nil {
				t.Fatal(err)
			}
			if (note != "") != tt.note {
				t.Errorf("note %q, want one: %v", note, tt.note)
			}
			if len(certs) == 0 {
				t.Fatal("no certificate")
			}
			if tt.key != "" {
				k, _, err := s.privateKey(tt.key)
				if err != nil {
					t.Fatal(err)
				}
				if !publicKeysEqual(k.Public(), rsaB.Public()) || !publicKeysEqual(certs[0].PublicKey, rsaB.Public()) {
					t.Error("the key or its certificate is not the one stored")
				}
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStoreErrors(t *testing.T) {
	testKeys(t)
	ca := selfSigned(t, rsaA, "issuer")
	gw := selfSigned(t, rsaB, "gateway")
	jks := makeJKS(t, "secret1", jksEntry{alias: "wso2apim310", cert: ca})
	p12 := makePKCS12(t, "secret2", rsaB, gw)
	named := writeTemp(t, "named.p12", makeNamedPKCS12(t, "ballerina", rsaB, gw))

	tests := []struct {
		name     string
		open     func() (*Store, error)
		alias    string // looked up when the store opens
		wantErr  error
		wantText string
	}{
		{"JKS wrong password", func() (*Store, error) { return OpenStore(jks, "nope") }, "", ErrWrongPassword, "JKS keystore"},
		{"PKCS#12 wrong password", func() (*Store, error) { return OpenStore(p12, "nope") }, "", ErrWrongPassword, "PKCS#12 keystore"},
		{"JKS unknown alias", func() (*Store, error) { return OpenStore(jks, "secret1") }, "other", ErrUnknownAlias, `"other" (it holds: wso2apim310)`},
		{"PKCS#12 unknown alias", func() (*Store, error) { return OpenStore(named, "") }, "other", ErrUnknownAlias, `"other" (it holds: ballerina)`},
		{"PEM file", func() (*Store, error) { return ParseStore("x.pem", []byte("-----BEGIN CERTIFICATE-----\n"), "") }, "", ErrNotKeystore, "a PEM file"},
		{"JCEKS", func() (*Store, error) { return ParseStore("x.jceks", []byte{0xce, 0xce, 0xce, 0xce, 0, 0}, "") }, "", ErrNotKeystore, "JCEKS"},
		{"garbage", func() (*Store, error) { return ParseStore("x.bin", []byte("hello"), "") }, "", ErrNotKeystore, "x.bin"},
		{"missing file", func() (*Store, error) { return OpenStore(filepath.Join(t.TempDir(), "none.jks"), "") }, "", os.ErrNotExist, "none.jks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.open()
			if err == nil && tt.alias != "" {
				_, _, err = s.certificates(tt.alias)
			}
			if !errorsIs(err, tt.wantErr) || !contains(err.Error(), tt.wantText) {
				t.Fatalf("error %v, want %v with %q", err, tt.wantErr, tt.wantText)
			}
		})
	}
}

func TestWriteFilesModes(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "k.key")
	if err := os.WriteFile(keyPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Result{Files: []File{
		{Path: keyPath, Data: []byte("key"), Mode: 0o600},
		{Path: filepath.Join(dir, "sub", "c.pem"), Data: []byte("cert"), Mode: 0o644},
	}}
	if err := r.WriteFiles(); err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Files {
		st, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.Mode {
			t.Errorf("%s: mode %o, want %o", f.Path, st.Mode().Perm(), f.Mode)
		}
		if b, _ := os.ReadFile(f.Path); string(b) != string(f.Data) {
			t.Errorf("%s holds %q", f.Path, b)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".backend-jwt-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// signedBy is a certificate for key, valid for a day, issued by the CA of
// caKey and caCert, or by key itself when caCert is nil.
func signedBy(t testing.TB, key crypto.Signer, cn string, caKey crypto.Signer, caCert *x509.Certificate) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	parent := caCert
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPKCS12TrustStoresAndChains(t *testing.T) {
	testKeys(t)
	ca := selfSigned(t, rsaA, "ca")
	leaf := signedBy(t, rsaB, "gateway", rsaA, ca)
	other := selfSigned(t, ecKey, "other")
	encode := func(enc *pkcs12.Encoder, password string, entries ...pkcs12.TrustStoreEntry) string {
		data, err := enc.EncodeTrustStoreEntries(entries, password)
		if err != nil {
			t.Fatal(err)
		}
		return writeTemp(t, "trust.p12", data)
	}
	// Passwordless stores keep their bags in clear, aliases included.
	clear := encode(pkcs12.Passwordless, "", pkcs12.TrustStoreEntry{Cert: ca, FriendlyName: "CA"}, pkcs12.TrustStoreEntry{Cert: other, FriendlyName: "other"})
	// Encrypted stores hide the aliases of their certificates.
	hiddenOne := encode(pkcs12.Modern, "pw", pkcs12.TrustStoreEntry{Cert: ca, FriendlyName: "ca"})
	hiddenTwo := encode(pkcs12.Modern, "pw", pkcs12.TrustStoreEntry{Cert: ca, FriendlyName: "ca"}, pkcs12.TrustStoreEntry{Cert: other, FriendlyName: "other"})
	chainData, err := pkcs12.Modern.Encode(rsaB, leaf, []*x509.Certificate{other, ca}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	chain := writeTemp(t, "chain.p12", chainData)

	tests := []struct {
		name, path, password, alias string
		want                        []*x509.Certificate
		note                        bool
		wantErr                     string
	}{
		{"clear trust store", clear, "", "ca", []*x509.Certificate{ca}, false, ""},
		{"clear trust store, other alias", clear, "", "OTHER", []*x509.Certificate{other}, false, ""},
		{"clear trust store, unknown alias", clear, "", "nope", nil, false, `unknown alias "nope" (it holds: ca, other)`},
		{"hidden aliases, one certificate", hiddenOne, "pw", "any", []*x509.Certificate{ca}, true, ""},
		{"hidden aliases, two certificates", hiddenTwo, "pw", "ca", nil, false, "and 2 whose alias is encrypted"},
		{"hidden aliases, wrong password", hiddenTwo, "nope", "ca", nil, false, "wrong password"},
		{"a key and its chain", chain, "pw", "x", []*x509.Certificate{leaf, ca}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenStore(tt.path, tt.password)
			var certs []*x509.Certificate
			var note string
			if err == nil {
				certs, note, err = s.certificates(tt.alias)
			}
			if tt.wantErr != "" {
				if err == nil || !contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (note != "") != tt.note {
				t.Errorf("note %q, want one: %v", note, tt.note)
			}
			if len(certs) != len(tt.want) {
				t.Fatalf("%d certificates, want %d", len(certs), len(tt.want))
			}
			for i := range certs {
				if !certs[i].Equal(tt.want[i]) {
					t.Errorf("certificate %d is %s, want %s", i, certs[i].Subject, tt.want[i].Subject)
				}
			}
		})
	}
}
