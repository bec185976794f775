package caddymodule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
)

// Limits of `caddy backend-jwt revoke`.
const (
	// defaultAdminAddress is Caddy's default admin endpoint.
	defaultAdminAddress = "localhost:2019"
	// revokeTimeout bounds the call to the admin API, which may wait up
	// to 10s for the storage.
	revokeTimeout = 20 * time.Second
	// maxAdminAnswer caps the admin API's answer read.
	maxAdminAnswer = 1 << 20
)

// revokeFlags are the flags of `caddy backend-jwt revoke`.
type revokeFlags struct {
	jti, signature, token, tokenSHA256, consumerKey, subject string
	exp, before, until                                       string
	address                                                  string
}

// revokeCommand is `caddy backend-jwt revoke`.
func revokeCommand() *cobra.Command {
	var f revokeFlags
	cmd := &cobra.Command{
		Use: "revoke (--jti ID | --signature SIG | --token TOKEN | --token-sha256 HEX | --consumer-key K --before T | --subject S --before T) " +
			"[--exp T] [--until T] [--address ADMIN]",
		Short: "Posts a revocation to a running Caddy's admin API",
		Long: `Posts a revocation to POST /backend_jwt/revocations of a running Caddy's admin
API. Every instance sharing its storage refuses the token(s) within
revocation_sync.

Give exactly one of:
  --jti ID, --signature SIG (the token's third part), --token-sha256 HEX (the
      SHA-256 of the whole token, lowercase hex): one token, with --exp, its exp;
  --token TOKEN ("-" reads it from standard input): one token, named by its
      jti (else its signature; else, for a token that is not a JWT or whose
      signature is not base64url, its SHA-256), with its own exp unless --exp
      is given; the token is decoded, not verified, and is not sent;
  --consumer-key K or --subject S, with --before: every token of that client
      (OAuth consumer key) or user (sub) issued at or before --before, the
      entry kept until --until (default and at most a year after --before).

Times (--exp, --before, --until) are seconds since the epoch (1767225600) or
RFC 3339 times (2026-01-01T00:00:00Z).

--address is the admin endpoint: host:port (default localhost:2019),
http://host:port, or unix//path/to/admin.sock.

Prints the admin API's answer. Exits 1 when the admin API refuses the
revocation (400, with its reason), when it is in force on that instance only
(503: the storage write failed and will be retried), or on any other error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := f.body(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), revokeTimeout)
			defer cancel()
			return postRevocation(ctx, cmd.OutOrStdout(), f.address, body)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.jti, "jti", "", "revoke the token with this jti (needs --exp)")
	fl.StringVar(&f.signature, "signature", "", "revoke the token with this signature, its third part (needs --exp)")
	fl.StringVar(&f.token, "token", "", `revoke this token ("-": read from standard input); its jti (else signature) and exp are read from it`)
	fl.StringVar(&f.tokenSHA256, "token-sha256", "", "revoke the token whose SHA-256 is this, in lowercase hex (needs --exp)")
	fl.StringVar(&f.consumerKey, "consumer-key", "", "revoke every token of this consumer key issued at or before --before")
	fl.StringVar(&f.subject, "subject", "", "revoke every token of this sub issued at or before --before")
	fl.StringVar(&f.exp, "exp", "", "the token's exp: seconds since the epoch or an RFC 3339 time")
	fl.StringVar(&f.before, "before", "", "with --consumer-key or --subject: tokens issued at or before this time (seconds since the epoch or RFC 3339)")
	fl.StringVar(&f.until, "until", "", "with --consumer-key or --subject: keep the entry until this time (seconds since the epoch or RFC 3339)")
	fl.StringVar(&f.address, "address", defaultAdminAddress, "the admin endpoint: host:port, http://host:port or unix//path")
	return cmd
}

// revocationBody is the JSON posted to /backend_jwt/revocations.
type revocationBody struct {
	JTI         string `json:"jti,omitempty"`
	Signature   string `json:"signature,omitempty"`
	TokenSHA256 string `json:"token_sha256,omitempty"`
	ConsumerKey string `json:"consumer_key,omitempty"`
	Subject     string `json:"subject,omitempty"`
	Exp         int64  `json:"exp,omitempty"`
	Before      int64  `json:"before,omitempty"`
	Until       int64  `json:"until,omitempty"`
}

// body checks the flags and makes the body to post. What only the admin API
// can judge (a missing exp or before, times out of range) is left to it.
func (f *revokeFlags) body(cmd *cobra.Command) (revocationBody, error) {
	var b revocationBody
	ids := []struct {
		flag  string
		value string
		to    *string
	}{
		{"jti", f.jti, &b.JTI}, {"signature", f.signature, &b.Signature}, {"token", f.token, nil},
		{"token-sha256", f.tokenSHA256, &b.TokenSHA256}, {"consumer-key", f.consumerKey, &b.ConsumerKey},
		{"subject", f.subject, &b.Subject},
	}
	var given []string
	for _, id := range ids {
		if !cmd.Flags().Changed(id.flag) {
			continue
		}
		given = append(given, "--"+id.flag)
		if strings.TrimSpace(id.value) == "" {
			return b, fmt.Errorf("--%s is empty", id.flag)
		}
		if id.to != nil {
			*id.to = id.value
		}
	}
	switch {
	case len(given) == 0:
		return b, errors.New("give one of --jti, --signature, --token, --token-sha256, --consumer-key and --subject")
	case len(given) > 1:
		return b, fmt.Errorf("give one of --jti, --signature, --token, --token-sha256, --consumer-key and --subject, not %s", strings.Join(given, " and "))
	}
	bulk := b.ConsumerKey != "" || b.Subject != ""
	switch {
	case bulk && f.exp != "":
		return b, errors.New("--exp is for one token; --consumer-key and --subject take --before (and --until)")
	case !bulk && (f.before != "" || f.until != ""):
		return b, errors.New("--before and --until go with --consumer-key or --subject; one token takes --exp")
	}
	for _, t := range []struct {
		flag, value string
		to          *int64
	}{{"exp", f.exp, &b.Exp}, {"before", f.before, &b.Before}, {"until", f.until, &b.Until}} {
		if t.value == "" {
			continue
		}
		v, err := parseCLITime(t.value)
		if err != nil {
			return b, fmt.Errorf("--%s: %w", t.flag, err)
		}
		*t.to = v
	}
	if cmd.Flags().Changed("token") {
		token, err := readToken(f.token, cmd.InOrStdin())
		if err != nil {
			return b, fmt.Errorf("--token: %w", err)
		}
		how, err := b.fromToken(token)
		if err != nil {
			return b, fmt.Errorf("--token: %w", err)
		}
		fmt.Fprintln(cmd.ErrOrStderr(), "revoking the token by its "+how)
	}
	return b, nil
}

// fromToken names token in b as SPEC 15 says: by its jti, else its
// signature, else (not a JWT, or a signature the admin API cannot take) the
// SHA-256 of the whole token; the exp comes from the token unless b has
// one. It returns how the token is named, for the user.
func (b *revocationBody) fromToken(token string) (string, error) {
	d, err := decodeJWT(token)
	if err != nil {
		if b.Exp == 0 {
			return "", fmt.Errorf("it is not a JWT (%v): an opaque token is revoked by its SHA-256 and needs --exp, when it expires", err)
		}
		sum := sha256.Sum256([]byte(token))
		b.TokenSHA256 = hex.EncodeToString(sum[:])
		return fmt.Sprintf("SHA-256 %s… (it is not a JWT), exp from --exp", b.TokenSHA256[:shownSignature]), nil
	}
	var how string
	switch jti, _ := d.claims["jti"].(string); {
	case jti != "":
		b.JTI, how = jti, fmt.Sprintf("jti %q", jti)
	case d.parts[2] != "" && !strings.ContainsAny(d.parts[2], "+/="):
		b.Signature, how = d.parts[2], fmt.Sprintf("signature %s…", d.parts[2][:min(shownSignature, len(d.parts[2])/2)])
	default:
		sum := sha256.Sum256([]byte(token))
		b.TokenSHA256 = hex.EncodeToString(sum[:])
		how = fmt.Sprintf("SHA-256 %s… (it has no jti, and no base64url signature)", b.TokenSHA256[:shownSignature])
	}
	if b.Exp != 0 {
		return how + ", exp from --exp", nil
	}
	raw, ok := d.claims["exp"].(json.Number)
	if !ok {
		return "", errors.New("the token has no exp (an API key that never expires?): give --exp, when the revocation may end")
	}
	exp, err := strconv.ParseInt(raw.String(), 10, 64)
	if err != nil {
		return "", fmt.Errorf("the token's exp %s is not whole seconds: give --exp", raw)
	}
	b.Exp = exp
	return fmt.Sprintf("%s, exp %d (%s)", how, exp, time.Unix(exp, 0).UTC().Format(time.RFC3339)), nil
}

// parseCLITime reads seconds since the epoch or an RFC 3339 time.
func parseCLITime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither seconds since the epoch nor an RFC 3339 time (2026-01-01T00:00:00Z)", s)
	}
	return t.Unix(), nil
}

// adminClient is an HTTP client for the admin endpoint at address, and the
// base URL of its requests.
func adminClient(address string) (*http.Client, string, error) {
	addr := strings.TrimSuffix(strings.TrimSpace(address), "/")
	if strings.HasPrefix(addr, "https://") {
		return nil, "", fmt.Errorf("--address %s: the admin API over TLS (remote admin) is not supported; use http://, host:port or unix//path", address)
	}
	addr = strings.TrimPrefix(addr, "http://")
	if !strings.Contains(addr, "/") && !strings.Contains(addr, ":") {
		addr += ":2019"
	}
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil || na.PortRangeSize() > 1 {
		return nil, "", fmt.Errorf("--address %s: want host:port, http://host:port or unix//path (%v)", address, err)
	}
	network, dialAddr := na.Network, na.JoinHostPort(0)
	base := "http://" + dialAddr
	if na.IsUnixNetwork() {
		base = "http://127.0.0.1" // the Host the admin API takes on a socket
	} else if !strings.HasPrefix(network, "tcp") {
		return nil, "", fmt.Errorf("--address %s: network %s is not supported", address, network)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, dialAddr)
		},
		DisableKeepAlives: true,
	}}
	return client, base, nil
}

// postRevocation posts body to the admin API at address and prints its
// answer to w; it returns an error for any answer but 201.
func postRevocation(ctx context.Context, w io.Writer, address string, body revocationBody) error {
	client, base, err := adminClient(address)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding the revocation: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/backend_jwt/revocations", bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("making the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if !strings.HasPrefix(address, "unix/") {
		req.Header.Set("Origin", base) // as caddy's own commands do, for enforce_origin
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the admin API at %s (is Caddy running there? see --address): %w", address, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminAnswer))
	if err != nil {
		return fmt.Errorf("reading the admin API's answer: %w", err)
	}
	var parsed struct {
		Error string `json:"error"`
		Local bool   `json:"local"`
	}
	isJSON := json.Unmarshal(answer, &parsed) == nil
	switch {
	case resp.StatusCode == http.StatusCreated:
		var pretty bytes.Buffer
		if json.Indent(&pretty, answer, "", "  ") != nil {
			pretty.Reset()
			pretty.Write(answer)
		}
		if _, err := fmt.Fprintln(w, strings.TrimSpace(pretty.String())); err != nil {
			return fmt.Errorf("writing the answer: %w", err)
		}
		return nil
	case resp.StatusCode == http.StatusServiceUnavailable && parsed.Local:
		return fmt.Errorf("the revocation is in force on the instance at %s, but writing it to storage failed (%s): "+
			"that instance keeps retrying and the other instances refuse the token once it is written (503)", address, parsed.Error)
	case isJSON && parsed.Error != "":
		return fmt.Errorf("the admin API refused the revocation (%s): %s", resp.Status, parsed.Error)
	}
	excerpt := strings.Join(strings.Fields(string(answer)), " ")
	if len(excerpt) > 200 {
		excerpt = excerpt[:200] + "…"
	}
	return fmt.Errorf("the admin API at %s answered %s: %s", address, resp.Status, excerpt)
}
