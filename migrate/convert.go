// Package migrate turns a WSO2 gateway's configuration into the equivalent
// backend_jwt block of a Caddyfile: an API Microgateway 3.x micro-gw.conf
// or an API Manager 4.x deployment.toml (both TOML, told apart by their
// tables), with the certificates and keys their aliases name exported from
// JKS or PKCS#12 stores as PEM files. It backs `caddy backend-jwt convert`.
//
// Every setting of the file either becomes a directive or is kept as a
// "# not converted: table.key = value" comment; secrets (passwords, keys)
// are never written: the block reads them from environment variables
// ({env.NAME}) and comments say which to set.
//
// The package does not depend on Caddy.
package migrate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/apimdata"
)

// Kind is the kind of WSO2 configuration file.
type Kind string

// The kinds of file Convert reads.
const (
	// MicroGateway is API Microgateway 3.x's micro-gw.conf.
	MicroGateway Kind = "micro-gw.conf"
	// APIManager is API Manager 4.x's deployment.toml.
	APIManager Kind = "deployment.toml"
)

// ErrUnknownKind: the file is TOML but neither a micro-gw.conf nor a
// deployment.toml.
var ErrUnknownKind = errors.New("unknown kind of file")

// Environment variables the block reads secrets from.
const (
	// EnvKeyManagerPassword holds the key manager's password (claims wso2).
	EnvKeyManagerPassword = "KM_PASSWORD"
	// EnvAPIManagerPassword holds API Manager's password (api_manager).
	EnvAPIManagerPassword = "APIM_PASSWORD"
	// EnvAPIManagerUsername holds API Manager's user when the file refers
	// to one this command cannot resolve.
	EnvAPIManagerUsername = "APIM_USERNAME"
)

// Options are Convert's inputs besides the configuration file.
type Options struct {
	// OutDir is the folder the PEM files are written to and that
	// certificate lines name when no store is given; "" is ".".
	OutDir string
	// Truststore holds the certificates that issuers and API keys name by
	// alias (WSO2's trust store); nil when not given.
	Truststore *Store
	// Keystore holds the backend-JWT signing key and its certificate
	// (micro-gw.conf: [jwtGeneratorConfig] privateKeyAlias and
	// certificateAlias; deployment.toml: [keystore.primary] alias); nil
	// when not given.
	Keystore *Store
}

// File is a PEM file that the block names.
type File struct {
	// Path is absolute.
	Path string
	// Data is the PEM text.
	Data []byte
	// Mode is 0600 for private keys, 0644 for certificates.
	Mode fs.FileMode
}

// Result is a converted configuration.
type Result struct {
	// Kind is the kind of file that was read.
	Kind Kind
	// Caddyfile is the backend_jwt block, ending with a newline.
	Caddyfile string
	// Files are the PEM files the block names; WriteFiles writes them.
	Files []File
}

// WriteFiles writes the PEM files, each replacing any file of its name
// atomically and with its mode (private keys 0600).
func (r *Result) WriteFiles() error {
	for _, f := range r.Files {
		if err := writeFileAtomic(f.Path, f.Data, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".backend-jwt-*") // mode 0600 from the start
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// ConvertFile reads and converts a configuration file.
func ConvertFile(path string, opts Options) (*Result, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Convert(path, data, opts)
}

// Convert converts the TOML text of a micro-gw.conf or a deployment.toml;
// name is the file's name, used in messages. It writes nothing: the
// result lists the PEM files to write.
func Convert(name string, data []byte, opts Options) (*Result, error) {
	d, err := parseDocument(name, data)
	if err != nil {
		return nil, err
	}
	kind, err := detectKind(name, d)
	if err != nil {
		return nil, err
	}
	if opts.OutDir == "" {
		opts.OutDir = "."
	}
	if opts.OutDir, err = filepath.Abs(opts.OutDir); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	c := &converter{name: name, d: d, opts: opts, byPath: map[string]string{}}
	c.w.comment("backend_jwt converted from %s (%s) by caddy backend-jwt convert", filepath.Base(name), kindTitle[kind])
	c.w.open("backend_jwt")
	switch kind {
	case MicroGateway:
		err = c.microGateway()
	case APIManager:
		err = c.apiManager()
	}
	if err != nil {
		return nil, err
	}
	c.leftovers("")
	c.w.close()
	return &Result{Kind: kind, Caddyfile: c.w.b.String(), Files: c.files}, nil
}

var kindTitle = map[Kind]string{MicroGateway: "API Microgateway 3.x", APIManager: "API Manager 4.x"}

// detectKind tells a micro-gw.conf from a deployment.toml by their tables.
func detectKind(name string, d *document) (Kind, error) {
	mgw, apim := false, false
	for _, t := range []string{"jwtTokenConfig", "jwtGeneratorConfig", "jwtConfig", "listenerConfig", "authConfig", "keyManager", "keymanager", "b7a", "apikey", "apim.eventHub"} {
		mgw = mgw || d.has(t)
	}
	for _, t := range []string{"apim.jwt", "apim.event_hub", "apim.key_manager", "apim.oauth_config", "super_admin", "user_store", "keystore", "truststore", "database", "server.hostname"} {
		apim = apim || d.has(t)
	}
	switch {
	case mgw && apim:
		return "", fmt.Errorf("%s: %w: it has tables of both a micro-gw.conf and a deployment.toml", name, ErrUnknownKind)
	case mgw:
		return MicroGateway, nil
	case apim:
		return APIManager, nil
	}
	return "", fmt.Errorf("%s: %w: neither a micro-gw.conf ([[jwtTokenConfig]], [jwtGeneratorConfig], …) nor an API Manager deployment.toml ([apim.jwt], [apim.event_hub], …)", name, ErrUnknownKind)
}

// converter holds one conversion's state.
type converter struct {
	name   string
	d      *document
	opts   Options
	w      writer
	files  []File
	byPath map[string]string // written path → content, to share or rename
}

// leftovers writes the not-converted comments of the settings under
// prefix (all that remain for ""), except those under the excluded
// prefixes.
func (c *converter) leftovers(prefix string, exclude ...string) {
	for _, s := range c.d.settings {
		if c.d.done[s.path] || !under(s.path, prefix) || underAny(s.path, exclude) {
			continue
		}
		c.d.done[s.path] = true
		c.w.comment("%s", c.d.notConverted(s))
	}
}

func underAny(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if under(path, p) {
			return true
		}
	}
	return false
}

// reasonAll gives every remaining setting under prefix a reason, unless it
// has one.
func (c *converter) reasonAll(prefix, reason string) {
	for _, s := range c.d.settings {
		if !c.d.done[s.path] && under(s.path, prefix) && c.d.reasons[s.path] == "" {
			c.d.reasons[s.path] = reason
		}
	}
}

// claimMaps writes a claim_map line for each table under path that names
// a remote and a local claim; a claim mapped twice keeps its first mapping.
func (c *converter) claimMaps(path, remoteKey, localKey string) {
	mapped := map[string]bool{}
	for _, q := range c.d.tables(path) {
		remote, _ := c.d.str(q + "." + remoteKey)
		local, _ := c.d.str(q + "." + localKey)
		switch {
		case remote == "" || local == "":
			reason := "want both " + remoteKey + " and " + localKey
			c.unuse(q+"."+remoteKey, reason)
			c.unuse(q+"."+localKey, reason)
		case mapped[remote]:
			reason := "this claim is mapped twice; the first mapping is kept"
			c.unuse(q+"."+remoteKey, reason)
			c.unuse(q+"."+localKey, reason)
		default:
			mapped[remote] = true
			c.w.line("claim_map", remote, local)
		}
	}
}

// unuse turns a setting read back into one not converted, with a reason.
func (c *converter) unuse(path, reason string) {
	delete(c.d.done, path)
	c.d.skip(path, reason)
}

// addFile records a PEM file named after an alias; the same name with
// other content gets a numbered name.
func (c *converter) addFile(alias, ext string, data []byte, mode fs.FileMode) string {
	base := safeName(alias)
	for i := 1; ; i++ {
		name := base + ext
		if i > 1 {
			name = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		path := filepath.Join(c.opts.OutDir, name)
		prev, seen := c.byPath[path]
		if seen && prev == string(data) {
			return path
		}
		if !seen {
			c.byPath[path] = string(data)
			c.files = append(c.files, File{Path: path, Data: data, Mode: mode})
			return path
		}
	}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// safeName is an alias made fit for a file name, in lower case as Java's
// keystores compare aliases.
func safeName(alias string) string {
	s := unsafeChars.ReplaceAllString(strings.ToLower(alias), "_")
	if s == "" || s[0] == '.' {
		s = "alias" + s
	}
	return s
}

// storeHint names a store in the keytool commands of comments.
func storeHint(path, fallback string) string {
	if path == "" {
		return fallback
	}
	return path
}

// trustedCertificate returns the certificate line's file for an alias of
// the trust store: exported when the store is given, else the file the
// user is told to export. from names the store in the hint.
func (c *converter) trustedCertificate(alias, from string) (string, []string, error) {
	if ts := c.opts.Truststore; ts != nil {
		certs, note, err := ts.certificates(alias)
		if err != nil {
			return "", nil, err
		}
		path := c.addFile(alias, ".pem", certificatePEM(certs[:1]), 0o644)
		return path, nonEmpty(note), nil
	}
	path := filepath.Join(c.opts.OutDir, safeName(alias)+".pem")
	return path, []string{fmt.Sprintf("export it first: keytool -exportcert -rfc -alias %s -keystore %s -file %s (or run convert again with --truststore)",
		alias, storeHint(from, "TRUSTSTORE"), path)}, nil
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// signing is the signing key and certificate lines of a generate block.
type signing struct {
	algorithm   string // "" to leave the default (RS256)
	keyFile     string
	certFile    string
	notes       []string
	certProblem string // why the certificate alias is not converted
}

// signingKey exports (or names) the generator's key and certificate.
// keyPath and certPath are the settings naming the aliases.
func (c *converter) signingKey(keyAlias, certAlias, from string) (signing, error) {
	var s signing
	ks := c.opts.Keystore
	if ks == nil {
		s.keyFile = filepath.Join(c.opts.OutDir, safeName(keyAlias)+".key")
		s.notes = append(s.notes, fmt.Sprintf("signing_key: run convert again with --keystore %s --keystore-password … to export alias %s's private key to %s (keytool cannot export a private key)",
			storeHint(from, "KEYSTORE"), keyAlias, s.keyFile))
		if certAlias != "" {
			s.certFile = filepath.Join(c.opts.OutDir, safeName(certAlias)+".pem")
			s.notes = append(s.notes, fmt.Sprintf("certificate: export it first: keytool -exportcert -rfc -alias %s -keystore %s -file %s",
				certAlias, storeHint(from, "KEYSTORE"), s.certFile))
		}
		return s, nil
	}
	key, note, err := ks.privateKey(keyAlias)
	if err != nil {
		return s, err
	}
	s.notes = nonEmpty(note)
	alg, problem := algorithmFor(key)
	if problem != "" {
		s.notes = append(s.notes, fmt.Sprintf("alias %s's key is %s: backend_jwt signs with a managed key instead (publish it with jwks_path)", keyAlias, problem))
		s.certProblem = "its key is not used"
		return s, nil
	}
	s.algorithm = alg
	keyPEM, err := privateKeyPEM(key)
	if err != nil {
		return s, fmt.Errorf("%s %s, alias %q: %w", ks.Format, ks.Path, keyAlias, err)
	}
	s.keyFile = c.addFile(keyAlias, ".key", keyPEM, 0o600)
	if certAlias == "" {
		return s, nil
	}
	certs, note, err := ks.certificates(certAlias)
	if err != nil {
		return s, err
	}
	if !publicKeysEqual(certs[0].PublicKey, key.Public()) {
		s.certProblem = fmt.Sprintf("not the certificate of alias %s's key; backend_jwt needs the signing key's own certificate", keyAlias)
		return s, nil
	}
	if note != "" && (len(s.notes) == 0 || s.notes[0] != note) {
		s.notes = append(s.notes, note)
	}
	s.certFile = c.addFile(certAlias, ".pem", certificatePEM(certs), 0o644)
	return s, nil
}

// resolve replaces the WSO2 placeholders that a file can resolve:
// $ref{table.key}, ${admin.username} ([super_admin] username), and
// ${carbon.context}, ${carbon.protocol}, ${carbon.host} and the ports from
// [server] hostname and offset. ok is false when placeholders remain.
func (c *converter) resolve(s string) (string, bool) {
	offset := int64(0)
	if v, ok := c.d.peek("server.offset"); ok {
		switch o := v.(type) {
		case int64:
			offset = o
		case string:
			fmt.Sscan(o, &offset)
		}
	}
	host := "localhost"
	if v, ok := c.d.peek("server.hostname"); ok {
		if h, ok := v.(string); ok && h != "" {
			host = h
		}
	}
	vars := map[string]string{
		"carbon.context":           "/",
		"carbon.protocol":          "https",
		"carbon.host":              host,
		"mgt.transport.https.port": fmt.Sprint(9443 + offset),
		"carbon.management.port":   fmt.Sprint(9443 + offset),
		"https.nio.port":           fmt.Sprint(8243 + offset),
	}
	if v, ok := c.d.peek("super_admin.username"); ok {
		if u, ok := v.(string); ok {
			vars["admin.username"] = u
		}
	}
	out := placeholderRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := placeholderRef.FindStringSubmatch(m)
		switch sub[1] {
		case "$":
			if v, ok := vars[sub[2]]; ok {
				return v
			}
		case "$ref":
			if v, ok := c.d.peek(sub[2]); ok {
				if vs, ok := v.(string); ok && !strings.Contains(vs, "{") {
					return vs
				}
			}
		}
		return m
	})
	return out, !placeholderRef.MatchString(out)
}

// placeholderRef matches ${name}, $ref{name}, $env{name}, $sys{name} and
// $secret{name}.
var placeholderRef = regexp.MustCompile(`(\$(?:ref|env|sys|secret)?)\{([^}]*)\}`)

// envReference matches a whole value that reads an environment variable.
var envReference = regexp.MustCompile(`^\$env\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// password returns the token of a password line and the comment that goes
// with it: the value is never copied.
func (c *converter) password(path, defaultEnv string) (string, string) {
	v, _ := c.d.str(path)
	if m := envReference.FindStringSubmatch(v); m != nil {
		return env(m[1]), fmt.Sprintf("the password is read from %s, as %s read it", m[1], path)
	}
	if v == "" && !c.d.has(path) {
		return env(defaultEnv), fmt.Sprintf("set %s to the password (%s is not set; WSO2's default is admin's)", defaultEnv, path)
	}
	return env(defaultEnv), fmt.Sprintf("set %s to the value of %s (not copied here)", defaultEnv, path)
}

// checkServerURL tells why a URL cannot be an api_manager server_url
// (the rule its Caddyfile parser applies); "" when it can.
func checkServerURL(raw string) string {
	if _, err := apimdata.NewClient(apimdata.Source{ServerURL: raw}, apimdata.ClientOptions{}); err != nil {
		return err.Error()
	}
	return ""
}

// algorithmFor returns the backend-JWT algorithm that fits a signing key,
// or why none does.
func algorithmFor(key crypto.Signer) (alg, problem string) {
	switch k := key.Public().(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Sprintf("RSA of %d bits (backend_jwt needs at least 2048)", k.N.BitLen())
		}
		return "RS256", ""
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return "ES256", ""
		}
		return "", fmt.Sprintf("ECDSA on %s (backend_jwt signs ES256 with P-256 only)", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return "EdDSA", ""
	}
	return "", fmt.Sprintf("of type %T", key.Public())
}
