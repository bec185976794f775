package caddymodule

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/spf13/cobra"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/strictjson"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
)

// Limits of `caddy backend-jwt inspect`.
const (
	// maxInspectInput caps a token read from stdin and a key file.
	maxInspectInput = 1 << 20
	// maxInspectJWKS caps a JWKS fetched from a URL.
	maxInspectJWKS = 1 << 20
	// inspectJWKSTimeout bounds fetching a JWKS from a URL.
	inspectJWKSTimeout = 10 * time.Second
	// shownSignature is how many characters of a signature are ever shown.
	shownSignature = 16
)

// inspectCommand is `caddy backend-jwt inspect`.
func inspectCommand() *cobra.Command {
	var jwksSource, certFile string
	cmd := &cobra.Command{
		Use:   "inspect [TOKEN|-] [--jwks URL|FILE] [--cert FILE]",
		Short: "Decodes a JWT and checks its signature",
		Long: `Decodes a JWT (an access token, a WSO2 API key or a backend JWT from
X-JWT-Assertion) and prints its header and claims, with iat, nbf and exp as
UTC dates and how long is left. TOKEN is read from standard input when it is
"-" or not given; white space and a "Bearer " prefix are ignored. Tokens
the gateway would refuse (expired, "=" padded, standard base64, alg none)
are decoded all the same, with a note saying what is wrong.

With --jwks (an http(s) URL, such as the gateway's jwks_path, or a file) or
--cert (a PEM certificate or public key file), it says whether the signature
verifies, with which kid or key, and if not why.

Exits 0 when the token decodes, is not expired and (with a key source)
verifies; otherwise 1 with a one-line reason. Neither the whole token nor
its signature is printed (at most the signature's first 16 characters).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arg := "-"
			if len(args) == 1 {
				arg = args[0]
			}
			token, err := readToken(arg, cmd.InOrStdin())
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), inspectJWKSTimeout)
			defer cancel()
			return runInspect(ctx, cmd.OutOrStdout(), token, jwksSource, certFile, time.Now())
		},
	}
	cmd.Flags().StringVar(&jwksSource, "jwks", "", "verify with the keys of this JWKS: an http(s) URL or a file")
	cmd.Flags().StringVar(&certFile, "cert", "", "verify with this PEM certificate or public key file")
	return cmd
}

// readToken returns the token named by arg: arg itself, or standard input
// when arg is "-". White space around it and a "Bearer " prefix are
// dropped.
func readToken(arg string, stdin io.Reader) (string, error) {
	if arg == "-" {
		if f, ok := stdin.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				return "", errors.New("give a TOKEN, or pipe one into standard input")
			}
		}
		b, err := io.ReadAll(io.LimitReader(stdin, maxInspectInput+1))
		if err != nil {
			return "", fmt.Errorf("reading the token from standard input: %w", err)
		}
		if len(b) > maxInspectInput {
			return "", fmt.Errorf("standard input holds more than %d bytes: not a token", maxInspectInput)
		}
		arg = string(b)
	}
	token := strings.TrimSpace(arg)
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	if token == "" {
		return "", errors.New("no token given")
	}
	return token, nil
}

// decodedJWT is a compact JWS decoded leniently, for display: any base64
// alphabet, with or without padding. Nothing in it is verified.
type decodedJWT struct {
	// parts are the three parts as transmitted.
	parts [3]string
	// header and payload are the decoded JSON; signature the decoded bytes.
	header, payload, signature []byte
	// headerMembers and claims are header and payload read with numbers
	// kept as json.Number.
	headerMembers, claims map[string]any
	alg, kid              string
	// encoding names the base64 variant of the parts.
	encoding string
	// notes say what the gateway or a JWT library would refuse or frown on.
	notes []string
}

// signingInput is what the signature covers: header.payload as transmitted.
func (d *decodedJWT) signingInput() []byte { return []byte(d.parts[0] + "." + d.parts[1]) }

// note adds a line to the notes.
func (d *decodedJWT) note(format string, args ...any) {
	d.notes = append(d.notes, fmt.Sprintf(format, args...))
}

// decodeJWT splits and decodes token without verifying it. It accepts what
// the gateway's strict reader refuses but can still be read (padding, the
// standard base64 alphabet, an empty signature, duplicate members), noting
// it; it fails on what cannot be read at all. Errors never quote the token.
func decodeJWT(token string) (*decodedJWT, error) {
	parts := strings.Split(token, ".")
	switch {
	case len(parts) == 5:
		return nil, errors.New("not a signed JWT: 5 parts, an encrypted JWT (JWE), which only its recipient can read")
	case len(parts) != 3:
		return nil, fmt.Errorf("not a JWT: %d part(s) separated by '.', want 3 (header.payload.signature)", len(parts))
	case parts[0] == "":
		return nil, errors.New("not a JWT: the header part is empty")
	case parts[1] == "":
		return nil, errors.New("not a JWT: the payload part is empty")
	}
	d := &decodedJWT{parts: [3]string{parts[0], parts[1], parts[2]}}
	std, url, padded := false, false, false
	for _, p := range parts {
		std = std || strings.ContainsAny(p, "+/")
		url = url || strings.ContainsAny(p, "-_")
		padded = padded || strings.Contains(p, "=")
	}
	if std && url {
		return nil, errors.New("bad base64: the parts mix the base64url ('-', '_') and standard base64 ('+', '/') alphabets")
	}
	enc := base64.RawURLEncoding
	d.encoding = "base64url (RFC 7515)"
	if std {
		enc = base64.RawStdEncoding
		d.encoding = "standard base64 (generate encoding base64, as WSO2 API Manager writes backend JWTs)"
		d.note("the parts are in standard base64, not base64url: RFC 7515 libraries (jose, PyJWT, nimbus…) refuse it; the gateway's encoding base64url makes tokens they read")
	}
	if padded {
		d.encoding += ", padded with '='"
		d.note("the parts are padded with '=' (java.util.Base64, as API Manager writes API keys): the gateway accepts padding only for API keys (api_keys); RFC 7515 libraries refuse it")
	}
	var err error
	for i, what := range []string{"header", "payload", "signature"} {
		p := parts[i]
		if padded && len(p)%4 != 0 {
			d.note("the %s is not padded to a multiple of 4 characters, as the others are", what)
		}
		dst := []*[]byte{&d.header, &d.payload, &d.signature}[i]
		if *dst, err = enc.DecodeString(strings.TrimRight(p, "=")); err != nil {
			var corrupt base64.CorruptInputError
			if errors.As(err, &corrupt) {
				return nil, fmt.Errorf("bad base64 in the %s, at its character %d", what, int64(corrupt)+1)
			}
			return nil, fmt.Errorf("bad base64 in the %s: %w", what, err)
		}
	}
	if d.headerMembers, err = readJSONObject(d.header); err != nil {
		return nil, fmt.Errorf("the header is not a JSON object: %w", err)
	}
	if d.claims, err = readJSONObject(d.payload); err != nil {
		return nil, fmt.Errorf("the payload is not a JSON object: %w", err)
	}
	for _, m := range []struct {
		what string
		data []byte
	}{{"header", d.header}, {"payload", d.payload}} {
		if _, err := strictjson.ParseObject(m.data); err != nil {
			d.note("the gateway refuses this %s: %v", m.what, err)
		}
	}
	d.alg, _ = d.headerMembers["alg"].(string)
	d.kid, _ = d.headerMembers["kid"].(string)
	d.checkHeader()
	return d, nil
}

// readJSONObject reads one JSON object, numbers as json.Number.
func readJSONObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("something follows the object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a JSON %s, not an object", jsonKind(v))
	}
	return obj, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

// checkHeader notes what in the header the gateway refuses.
func (d *decodedJWT) checkHeader() {
	raw, hasAlg := d.headerMembers["alg"]
	switch {
	case !hasAlg:
		d.note("the header has no alg")
	case d.alg == "" && raw != "":
		d.note("alg is not a string")
	case strings.EqualFold(d.alg, "none"):
		d.note("alg none: the token is unsigned; the gateway refuses it")
	case strings.HasPrefix(strings.ToUpper(d.alg), "HS"):
		d.note("alg %s (HMAC, a shared secret): the gateway refuses HMAC tokens; no public key can check it", d.alg)
	case !jwsAlgorithm(d.alg):
		d.note("alg %q is not one the gateway knows", d.alg)
	}
	if _, ok := d.headerMembers["crit"]; ok {
		d.note("the header has crit: the gateway refuses every token with it")
	}
	if cty, _ := d.headerMembers["cty"].(string); strings.EqualFold(cty, "JWT") {
		d.note("cty JWT (a nested token): the gateway refuses it")
	}
	if d.parts[2] == "" && !strings.EqualFold(d.alg, "none") {
		d.note("the signature part is empty")
	}
	switch tt, _ := d.claims["token_type"].(string); {
	case strings.EqualFold(tt, "apiKey"):
		d.note("a WSO2 API key (token_type apiKey): the gateway takes it with api_keys and its certificates")
	case strings.EqualFold(tt, "InternalKey"):
		d.note("a WSO2 internal key (token_type InternalKey): the gateway refuses it (401 900901), as WSO2 gateways do")
	}
}

// jwsAlgorithm tells whether alg is an asymmetric JWS algorithm inspect
// can verify.
func jwsAlgorithm(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}

// timeClaimNames are the NumericDate claims shown as dates.
var timeClaimNames = []string{"iat", "nbf", "exp"}

// checkTimes describes iat, nbf and exp against now, one line each, and
// returns why the token is not valid now ("" when it is).
func (d *decodedJWT) checkTimes(now time.Time) (lines []string, invalid string) {
	var reasons []string
	for _, name := range timeClaimNames {
		raw, ok := d.claims[name]
		if !ok {
			continue
		}
		n, isNumber := raw.(json.Number)
		secs, err := strconv.ParseInt(string(n), 10, 64)
		if !isNumber || err != nil {
			f, ferr := strconv.ParseFloat(string(n), 64)
			if !isNumber || ferr != nil {
				lines = append(lines, fmt.Sprintf("%-4s %v: not a number of seconds; the gateway refuses it", name, raw))
				continue
			}
			d.note("%s is not a whole number of seconds: the gateway refuses it", name)
			secs = int64(f)
		}
		t := time.Unix(secs, 0).UTC()
		var how string
		switch name {
		case "iat":
			how = "issued " + ago(now, t)
			if t.After(now) {
				how = "issued in the future, " + until(now, t) + " (are the clocks in step?)"
			}
		case "nbf":
			if t.After(now) {
				how = "not valid yet: valid " + until(now, t)
				reasons = append(reasons, fmt.Sprintf("not valid before %s (%s)", t.Format(time.RFC3339), until(now, t)))
			} else {
				how = "valid since " + ago(now, t)
			}
		case "exp":
			if t.After(now) {
				how = "expires " + until(now, t)
			} else {
				how = "EXPIRED " + ago(now, t)
				reasons = append(reasons, fmt.Sprintf("expired at %s (%s)", t.Format(time.RFC3339), ago(now, t)))
			}
		}
		lines = append(lines, fmt.Sprintf("%-4s %-11d %s  %s", name, secs, t.Format(time.RFC3339), how))
	}
	if _, ok := d.claims["exp"]; !ok {
		lines = append(lines, "exp  (none): never expires; only API keys may omit it, the gateway refuses an access token without exp")
	}
	return lines, strings.Join(reasons, "; ")
}

// ago says how long before now t is.
func ago(now, t time.Time) string { return humanDuration(now.Sub(t)) + " ago" }

// until says how long after now t is.
func until(now, t time.Time) string { return "in " + humanDuration(t.Sub(now)) }

// humanDuration is d in whole seconds, with days past 48 hours.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		d = -d
	}
	if d >= 48*time.Hour {
		days := d / (24 * time.Hour)
		return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
	}
	return d.String()
}

// inspectKey is a verification key from a key source.
type inspectKey struct {
	kid, alg, use string // from a JWKS; empty for a PEM file
	key           crypto.PublicKey
	// name says where the key comes from, for messages.
	name string
	// cert is the key's certificate, when it came from one.
	cert *x509.Certificate
}

// describeKey names a public key's type and size.
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// keyFitsAlg tells whether pub can verify a signature of alg.
func keyFitsAlg(alg string, pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return alg == "ES256" && k.Curve == elliptic.P256() || alg == "ES384" && k.Curve == elliptic.P384() ||
			alg == "ES512" && k.Curve == elliptic.P521()
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// loadJWKS reads the keys of a JWKS from an http(s) URL or a file, and
// returns them with a label of the source for messages.
func loadJWKS(ctx context.Context, source string) ([]inspectKey, string, error) {
	var body []byte
	var label string
	if strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://") {
		label = "JWKS " + redactURL(source)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
		if err != nil {
			return nil, label, fmt.Errorf("JWKS URL: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := (&http.Client{Timeout: inspectJWKSTimeout}).Do(req)
		if err != nil {
			return nil, label, fmt.Errorf("fetching the JWKS: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, label, fmt.Errorf("fetching the JWKS: %s answered %s", redactURL(source), resp.Status)
		}
		if body, err = io.ReadAll(io.LimitReader(resp.Body, maxInspectJWKS+1)); err != nil {
			return nil, label, fmt.Errorf("reading the JWKS: %w", err)
		}
		if len(body) > maxInspectJWKS {
			return nil, label, fmt.Errorf("the JWKS is larger than %d bytes", maxInspectJWKS)
		}
	} else {
		label = "JWKS file " + source
		var err error
		if body, err = readSmallFile(source); err != nil {
			return nil, label, fmt.Errorf("reading the JWKS: %w", err)
		}
		if bytes.Contains(body, []byte("-----BEGIN")) {
			return nil, label, fmt.Errorf("%s is PEM, not a JWKS: give it with --cert", source)
		}
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, label, fmt.Errorf("%s is not a JWK set: %w", label, err)
	}
	var keys []inspectKey
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		ik := inspectKey{kid: k.KeyID(), alg: k.Algorithm().String(), use: k.KeyUsage()}
		ik.name = fmt.Sprintf("kid %q", ik.kid)
		if ik.kid == "" {
			ik.name = fmt.Sprintf("key %d (no kid)", i+1)
		}
		if k.KeyType() != jwa.OctetSeq {
			if raw, err := jwk.PublicRawKeyOf(k); err == nil {
				ik.key = raw
			}
		}
		keys = append(keys, ik)
	}
	if len(keys) == 0 {
		return nil, label, fmt.Errorf("%s holds no key", label)
	}
	return keys, label, nil
}

// readSmallFile reads a key file of at most maxInspectInput bytes.
func readSmallFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxInspectInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxInspectInput {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxInspectInput)
	}
	return b, nil
}

// loadCertKeys reads every certificate or public key of a PEM file.
func loadCertKeys(file string) ([]inspectKey, string, error) {
	label := "PEM file " + file
	data, err := readSmallFile(file)
	if err != nil {
		return nil, label, fmt.Errorf("reading the certificate: %w", err)
	}
	var keys []inspectKey
	for n := 1; ; n++ {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			break
		}
		ik := inspectKey{name: fmt.Sprintf("PEM block %d (%s)", n, block.Type)}
		switch block.Type {
		case "CERTIFICATE":
			if ik.cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				ik.key = ik.cert.PublicKey
				ik.name = fmt.Sprintf("the certificate of %q", ik.cert.Subject.String())
			}
		case "PUBLIC KEY":
			ik.key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			ik.key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, label, fmt.Errorf("%s: PEM block %d is a private key; give the certificate or public key instead", file, n)
			}
			continue
		}
		if err != nil {
			return nil, label, fmt.Errorf("%s: PEM block %d (%s): %w", file, n, block.Type, err)
		}
		keys = append(keys, ik)
	}
	if len(keys) == 0 {
		return nil, label, fmt.Errorf("%s holds no PEM certificate or public key", file)
	}
	return keys, label, nil
}

// verifyJWT checks d's signature with keys: the kid must name a key when
// the token has one and the key set has kids. It returns the key that
// verifies, or an error saying why none does.
func verifyJWT(d *decodedJWT, keys []inspectKey) (*inspectKey, error) {
	switch {
	case d.alg == "":
		return nil, errors.New("the header has no alg string")
	case strings.EqualFold(d.alg, "none"):
		return nil, errors.New("alg none: the token is unsigned, refused")
	case strings.HasPrefix(strings.ToUpper(d.alg), "HS"):
		return nil, fmt.Errorf("alg %s (HMAC) refused: it is checked with a shared secret, not a public key, and the gateway refuses it", d.alg)
	case !jwsAlgorithm(d.alg):
		return nil, fmt.Errorf("alg %q is not an algorithm inspect verifies (RS*, PS*, ES*, EdDSA)", d.alg)
	case len(d.signature) == 0:
		return nil, errors.New("the signature part is empty")
	}
	candidates := keys
	if d.kid != "" && hasKIDs(keys) {
		candidates = nil
		var kids []string
		for _, k := range keys {
			if k.kid == d.kid {
				candidates = append(candidates, k)
			}
			if k.kid != "" {
				kids = append(kids, strconv.Quote(k.kid))
			}
		}
		if len(candidates) == 0 {
			return nil, fmt.Errorf("no key with kid %q (the key set has %s)", d.kid, strings.Join(kids, ", "))
		}
	}
	verifier, err := jws.NewVerifier(jwa.SignatureAlgorithm(d.alg))
	if err != nil {
		return nil, fmt.Errorf("alg %s: %w", d.alg, err)
	}
	var why []string
	for i := range candidates {
		k := &candidates[i]
		switch {
		case k.key == nil:
			why = append(why, k.name+" is not a public key (a symmetric or unreadable key)")
		case k.use != "" && k.use != "sig":
			why = append(why, fmt.Sprintf("%s is for use %q, not sig", k.name, k.use))
		case k.alg != "" && k.alg != d.alg:
			why = append(why, fmt.Sprintf("alg mismatch: %s is for %s, the token says %s", k.name, k.alg, d.alg))
		case !keyFitsAlg(d.alg, k.key):
			why = append(why, fmt.Sprintf("alg mismatch: the token says %s, %s is %s", d.alg, k.name, describeKey(k.key)))
		case verifier.Verify(d.signingInput(), d.signature, k.key) != nil:
			why = append(why, "bad signature: it does not verify with "+k.name)
		default:
			return k, nil
		}
	}
	return nil, errors.New(strings.Join(why, "; "))
}

// hasKIDs tells whether any key has a kid.
func hasKIDs(keys []inspectKey) bool {
	for _, k := range keys {
		if k.kid != "" {
			return true
		}
	}
	return false
}

// runInspect decodes token, prints it to w and checks it: its times, and
// its signature with the JWKS at jwksSource or the keys in certFile when
// either is given.
func runInspect(ctx context.Context, w io.Writer, token, jwksSource, certFile string, now time.Time) error {
	if jwksSource != "" && certFile != "" {
		return errors.New("give --jwks or --cert, not both")
	}
	d, err := decodeJWT(token)
	if err != nil {
		return err
	}
	var keys []inspectKey
	var source string
	switch {
	case jwksSource != "":
		keys, source, err = loadJWKS(ctx, jwksSource)
	case certFile != "":
		keys, source, err = loadCertKeys(certFile)
	}
	if err != nil {
		return err
	}

	var out strings.Builder
	out.WriteString("Header:\n")
	out.WriteString(indentJSON(d.header, nil))
	out.WriteString("Claims:\n")
	out.WriteString(indentJSON(d.payload, nestedSignatures(d.claims)))
	timeLines, invalid := d.checkTimes(now)
	fmt.Fprintf(&out, "Times (UTC; now %s):\n", now.UTC().Format(time.RFC3339))
	for _, l := range timeLines {
		out.WriteString("  " + l + "\n")
	}
	fmt.Fprintf(&out, "Encoding:  %s\n", d.encoding)
	if sig := d.parts[2]; sig == "" {
		fmt.Fprintf(&out, "Signature: %s, none (the third part is empty)\n", orNone(d.alg))
	} else {
		begins := ""
		if len(sig) > 2*shownSignature { // a short one is not shown at all
			begins = ", begins " + sig[:shownSignature] + "…"
		}
		fmt.Fprintf(&out, "Signature: %s, %d bytes (%d characters%s)\n", orNone(d.alg), len(d.signature), len(d.parts[2]), begins)
	}

	var failures []string
	if keys != nil {
		fmt.Fprintf(&out, "Keys:      %s, %d key(s)\n", source, len(keys))
		k, err := verifyJWT(d, keys)
		if err != nil {
			fmt.Fprintf(&out, "Verified:  NO: %v\n", err)
			failures = append(failures, "signature not verified: "+err.Error())
		} else {
			fmt.Fprintf(&out, "Verified:  yes, %s with %s (%s)\n", d.alg, k.name, describeKey(k.key))
			d.noteKeyMatch(k)
		}
		if certFile != "" {
			d.noteX5T(keys)
		}
	}
	if invalid != "" {
		failures = append(failures, invalid)
	}
	if len(d.notes) > 0 {
		out.WriteString("Notes:\n")
		for _, n := range d.notes {
			out.WriteString("  - " + n + "\n")
		}
	}
	if _, err := io.WriteString(w, out.String()); err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

func orNone(alg string) string {
	if alg == "" {
		return "(no alg)"
	}
	return alg
}

// noteKeyMatch notes, for a key from a PEM file, whether the token's kid is
// the key's RFC 7638 thumbprint (the kid the gateway gives backend JWTs),
// and a short RSA key.
func (d *decodedJWT) noteKeyMatch(k *inspectKey) {
	if rk, ok := k.key.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
		d.note("the key is RSA %d bits: the gateway refuses RSA keys under 2048 bits", rk.N.BitLen())
	}
	if k.kid != "" || d.kid == "" {
		return
	}
	tp, err := jwtgen.Thumbprint(k.key)
	switch {
	case err != nil:
	case tp == d.kid:
		d.note("the kid is the key's RFC 7638 thumbprint, as in the gateway's jwks_path")
	case len(d.kid) == len(tp): // a thumbprint, of another key
		d.note("the kid is not this key's RFC 7638 thumbprint (%s): the token names another key", tp)
	}
}

// noteX5T notes whether the header's x5t names a certificate of keys.
func (d *decodedJWT) noteX5T(keys []inspectKey) {
	x5t, ok := d.headerMembers["x5t"].(string)
	if !ok {
		return
	}
	for _, k := range keys {
		if k.cert == nil {
			continue
		}
		switch x5t {
		case jwtgen.X5TWSO2Value(k.cert):
			d.note("x5t names %s (WSO2 format: base64url of the hex SHA-1)", k.name)
			return
		case jwtgen.X5TRFC7515Value(k.cert):
			d.note("x5t names %s (RFC 7515 format)", k.name)
			return
		}
	}
	d.note("x5t names none of the certificates given")
}

// nestedSignatures are the signature parts of tokens carried in the claims
// (a backendJwt claim), which are not printed either.
func nestedSignatures(claims map[string]any) []string {
	s, ok := claims["backendJwt"].(string)
	if !ok {
		return nil
	}
	if i := strings.LastIndexByte(s, '.'); i >= 0 && len(s)-i-1 > 2*shownSignature {
		return []string{s[i+1:]}
	}
	return nil
}

// indentJSON indents a JSON object for display, keeping its members'
// order, with each of hide replaced by a mention of its length.
func indentJSON(data []byte, hide []string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, data, "", "  "); err != nil {
		b.Reset()
		b.Write(data)
	}
	s := b.String()
	for _, h := range hide {
		repl := fmt.Sprintf("%s…(signature of %d characters, not shown)", h[:shownSignature], len(h))
		s = strings.ReplaceAll(s, h, repl)
		s = strings.ReplaceAll(s, strings.ReplaceAll(h, "/", `\/`), repl)
	}
	return s + "\n"
}
