package migrate

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unicode/utf16"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"software.sslmate.com/src/go-pkcs12"
)

// Errors that a caller may tell apart.
var (
	// ErrWrongPassword: the store's integrity check failed with the password given.
	ErrWrongPassword = errors.New("wrong password")
	// ErrUnknownAlias: the configuration names an alias the store does not hold.
	ErrUnknownAlias = errors.New("unknown alias")
	// ErrNotKeystore: the file is neither a JKS nor a PKCS#12 store.
	ErrNotKeystore = errors.New("not a JKS or PKCS#12 keystore")
)

// Store formats.
const (
	// FormatJKS is Java's own keystore format (magic 0xFEEDFEED).
	FormatJKS = "JKS"
	// FormatPKCS12 is PKCS#12 (RFC 7292), Java's default since Java 9.
	FormatPKCS12 = "PKCS#12"
)

// maxFileSize bounds the files read: configurations and stores (WSO2's
// are a few KiB).
const maxFileSize = 16 << 20

// readFile reads a file of at most maxFileSize bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: over %d MiB", path, maxFileSize>>20)
	}
	return data, nil
}

// Store is a Java keystore or trust store (JKS or PKCS#12, told apart by
// its content), opened with its password. Aliases are compared without
// regard to case, as Java's keystores do.
type Store struct {
	// Path is the file the store was read from.
	Path string
	// Format is FormatJKS or FormatPKCS12.
	Format string

	entries []*storeEntry
}

// storeEntry is one alias of a store.
type storeEntry struct {
	alias string              // lower case; "" when the store does not let us read it
	certs []*x509.Certificate // the entry's certificate first, then its chain
	key   func() (crypto.Signer, error)
}

// OpenStore reads a JKS or PKCS#12 file and checks it with password.
func OpenStore(path, password string) (*Store, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseStore(path, data, password)
}

// ParseStore reads a JKS or PKCS#12 store from data; name is used in
// errors.
func ParseStore(name string, data []byte, password string) (*Store, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xfe, 0xed, 0xfe, 0xed}):
		return parseJKS(name, data, password)
	case bytes.HasPrefix(data, []byte{0xce, 0xce, 0xce, 0xce}):
		return nil, fmt.Errorf("%s is a JCEKS keystore, which this command does not read; convert it: keytool -importkeystore -srckeystore %s -destkeystore store.p12 -deststoretype pkcs12: %w", name, name, ErrNotKeystore)
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")):
		return nil, fmt.Errorf("%s is a PEM file, not a keystore: name it in the Caddyfile as it is: %w", name, ErrNotKeystore)
	case len(data) > 0 && data[0] == 0x30:
		return parsePKCS12(name, data, password)
	}
	return nil, fmt.Errorf("%s: %w", name, ErrNotKeystore)
}

func parseJKS(name string, data []byte, password string) (*Store, error) {
	ks := keystore.New(keystore.WithOrderedAliases())
	if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
		if strings.Contains(err.Error(), "invalid digest") {
			return nil, fmt.Errorf("JKS keystore %s: %w (its integrity check failed)", name, ErrWrongPassword)
		}
		return nil, fmt.Errorf("reading JKS keystore %s: %w", name, err)
	}
	s := &Store{Path: name, Format: FormatJKS}
	for _, alias := range ks.Aliases() {
		e := &storeEntry{alias: alias}
		var chain []keystore.Certificate
		switch {
		case ks.IsTrustedCertificateEntry(alias):
			tce, err := ks.GetTrustedCertificateEntry(alias)
			if err != nil {
				return nil, fmt.Errorf("JKS keystore %s, alias %q: %w", name, alias, err)
			}
			chain = []keystore.Certificate{tce.Certificate}
		case ks.IsPrivateKeyEntry(alias):
			var err error
			if chain, err = ks.GetPrivateKeyEntryCertificateChain(alias); err != nil {
				return nil, fmt.Errorf("JKS keystore %s, alias %q: %w", name, alias, err)
			}
			e.key = func() (crypto.Signer, error) {
				pke, err := ks.GetPrivateKeyEntry(alias, []byte(password))
				if err != nil {
					return nil, fmt.Errorf("JKS keystore %s, alias %q: the key does not open with the store password: %w", name, alias, err)
				}
				return parsePKCS8Signer(pke.PrivateKey)
			}
		}
		for _, c := range chain {
			cert, err := x509.ParseCertificate(c.Content)
			if err != nil {
				return nil, fmt.Errorf("JKS keystore %s, alias %q: certificate: %w", name, alias, err)
			}
			e.certs = append(e.certs, cert)
		}
		s.entries = append(s.entries, e)
	}
	return s, nil
}

func parsePKCS8Signer(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", k)
	}
	return signer, nil
}

// parsePKCS12 reads a PKCS#12 keystore (one private key and its
// certificates) or trust store (certificates only). go-pkcs12 does not
// return aliases (friendly names); they are read from the bags that are
// not encrypted, which is where keytool and OpenSSL put the key's.
func parsePKCS12(name string, data []byte, password string) (*Store, error) {
	names := readPKCS12Names(data)
	s := &Store{Path: name, Format: FormatPKCS12}
	key, cert, caCerts, err := pkcs12.DecodeChain(data, password)
	if err == nil {
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("PKCS#12 keystore %s: a private key of type %T cannot sign", name, key)
		}
		s.entries = append(s.entries, &storeEntry{
			alias: strings.ToLower(names.key),
			certs: chainFor(signer.Public(), append([]*x509.Certificate{cert}, caCerts...)),
			key:   func() (crypto.Signer, error) { return signer, nil },
		})
		return s, nil
	}
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, fmt.Errorf("PKCS#12 keystore %s: %w", name, ErrWrongPassword)
	}
	certs, terr := pkcs12.DecodeTrustStore(data, password)
	if terr != nil {
		if errors.Is(terr, pkcs12.ErrIncorrectPassword) {
			return nil, fmt.Errorf("PKCS#12 keystore %s: %w", name, ErrWrongPassword)
		}
		if strings.Contains(err.Error(), "exactly one key bag") {
			return nil, fmt.Errorf("PKCS#12 keystore %s holds several private keys; this command reads one: copy the one you need into a store of its own (keytool -importkeystore -srcalias ALIAS)", name)
		}
		return nil, fmt.Errorf("reading PKCS#12 keystore %s: %w", name, err)
	}
	for _, c := range certs {
		s.entries = append(s.entries, &storeEntry{alias: strings.ToLower(names.certs[string(c.Raw)]), certs: []*x509.Certificate{c}})
	}
	return s, nil
}

// chainFor orders certificates as the chain of the certificate of pub:
// that certificate first, then each issuer found among the others.
func chainFor(pub crypto.PublicKey, certs []*x509.Certificate) []*x509.Certificate {
	var leaf *x509.Certificate
	for _, c := range certs {
		if publicKeysEqual(c.PublicKey, pub) {
			leaf = c
			break
		}
	}
	if leaf == nil {
		return certs
	}
	chain := []*x509.Certificate{leaf}
	for cur := leaf; !bytes.Equal(cur.RawIssuer, cur.RawSubject); {
		var next *x509.Certificate
		for _, c := range certs {
			if bytes.Equal(c.RawSubject, cur.RawIssuer) && c != cur {
				next = c
				break
			}
		}
		if next == nil || len(chain) > len(certs) {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// Aliases returns the aliases the store lets us read, in lower case and
// sorted.
func (s *Store) Aliases() []string {
	var out []string
	for _, e := range s.entries {
		if e.alias != "" {
			out = append(out, e.alias)
		}
	}
	sort.Strings(out)
	return out
}

// lookup finds an alias. A PKCS#12 store whose aliases cannot be read
// answers with its one entry, if it has only one, and says so in note.
func (s *Store) lookup(alias string) (e *storeEntry, note string, err error) {
	want := strings.ToLower(alias)
	var unnamed []*storeEntry
	for _, e := range s.entries {
		if e.alias == want {
			return e, "", nil
		}
		if e.alias == "" {
			unnamed = append(unnamed, e)
		}
	}
	if len(unnamed) == 1 && len(s.entries) == 1 {
		return unnamed[0], fmt.Sprintf("%s: the %s store's only entry, taken for alias %q (the store does not show its alias)", s.Path, s.Format, alias), nil
	}
	held := strings.Join(s.Aliases(), ", ")
	if held == "" {
		held = "none that can be read"
	}
	if len(unnamed) > 0 {
		held += fmt.Sprintf("; and %d whose alias is encrypted: convert the store to JKS (keytool -importkeystore -deststoretype jks) to read them", len(unnamed))
	}
	return nil, "", fmt.Errorf("%s %s: %w %q (it holds: %s)", s.Format, s.Path, ErrUnknownAlias, alias, held)
}

// certificates returns the certificate of alias and its chain.
func (s *Store) certificates(alias string) ([]*x509.Certificate, string, error) {
	e, note, err := s.lookup(alias)
	if err != nil {
		return nil, "", err
	}
	if len(e.certs) == 0 {
		return nil, "", fmt.Errorf("%s %s, alias %q: no certificate", s.Format, s.Path, alias)
	}
	return e.certs, note, nil
}

// privateKey returns the private key of alias.
func (s *Store) privateKey(alias string) (crypto.Signer, string, error) {
	e, note, err := s.lookup(alias)
	if err != nil {
		return nil, "", err
	}
	if e.key == nil {
		return nil, "", fmt.Errorf("%s %s, alias %q: a certificate, not a private key", s.Format, s.Path, alias)
	}
	k, err := e.key()
	return k, note, err
}

// certificatePEM encodes certificates as PEM.
func certificatePEM(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// privateKeyPEM encodes a private key as PKCS#8 PEM.
func privateKeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding the private key as PKCS#8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PKCS#12 structures (RFC 7292), as far as the friendly names need them.
type p12PFX struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  asn1.RawValue `asn1:"optional"`
}

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type p12SafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue     `asn1:"tag:0,explicit"`
	Attributes []p12BagAttribute `asn1:"set,optional"`
}

type p12BagAttribute struct {
	ID     asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

type p12CertBag struct {
	ID    asn1.ObjectIdentifier
	Value []byte `asn1:"tag:0,explicit"`
}

var (
	oidData               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidFriendlyName       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidKeyBag             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidX509CertificateBag = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
)

// pkcs12Names are the friendly names found in a PKCS#12 file's bags that
// are not encrypted.
type pkcs12Names struct {
	key   string            // the (last) key bag's
	certs map[string]string // certificate DER → name
}

// readPKCS12Names reads the friendly names it can; anything it cannot
// parse yields no name (go-pkcs12 reports the real problem).
func readPKCS12Names(data []byte) pkcs12Names {
	names := pkcs12Names{certs: map[string]string{}}
	var pfx p12PFX
	if _, err := asn1.Unmarshal(data, &pfx); err != nil || !pfx.AuthSafe.ContentType.Equal(oidData) {
		return names
	}
	var authSafe []byte
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return names
	}
	var infos []p12ContentInfo
	if _, err := asn1.Unmarshal(authSafe, &infos); err != nil {
		return names
	}
	for _, ci := range infos {
		if !ci.ContentType.Equal(oidData) { // encrypted: its names stay unknown
			continue
		}
		var contents []byte
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &contents); err != nil {
			continue
		}
		var bags []p12SafeBag
		if _, err := asn1.Unmarshal(contents, &bags); err != nil {
			continue
		}
		for _, bag := range bags {
			name := friendlyName(bag.Attributes)
			if name == "" {
				continue
			}
			switch {
			case bag.ID.Equal(oidKeyBag), bag.ID.Equal(oidShroudedKeyBag):
				names.key = name
			case bag.ID.Equal(oidCertBag):
				var cb p12CertBag
				if _, err := asn1.Unmarshal(bag.Value.Bytes, &cb); err == nil && cb.ID.Equal(oidX509CertificateBag) {
					names.certs[string(cb.Value)] = name
				}
			}
		}
	}
	return names
}

// friendlyName returns the friendlyName attribute (a BMPString), if any.
func friendlyName(attrs []p12BagAttribute) string {
	for _, a := range attrs {
		if !a.ID.Equal(oidFriendlyName) {
			continue
		}
		var v asn1.RawValue
		if _, err := asn1.Unmarshal(a.Values.Bytes, &v); err != nil || v.Tag != asn1.TagBMPString || len(v.Bytes)%2 != 0 {
			return ""
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return strings.TrimRight(string(utf16.Decode(u)), "\x00")
	}
	return ""
}
