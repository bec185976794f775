package retriever

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults and fixed values of the WSO2 retriever.
const (
	// DefaultTimeout bounds a call to the key manager when
	// WSO2Config.Timeout is 0.
	DefaultTimeout = 5 * time.Second

	// DefaultMaxBodyBytes caps the key manager's answer when
	// WSO2Config.MaxBodyBytes is 0.
	DefaultMaxBodyBytes int64 = 1 << 20

	// ClaimsPath is the WSO2 key manager's claims API, appended to the
	// server URL.
	ClaimsPath = "/keymanager-operations/user-info/claims/generate"

	// MaxRedirects is how many redirects to the same scheme, host and port
	// a call follows; more is ErrUnavailable.
	MaxRedirects = 3
)

const (
	drainLimit     = 64 << 10 // bytes of an unread body read to reuse the connection
	excerptReadMax = 512      // bytes of an error answer read for its excerpt
	excerptLen     = 120      // bytes of a body quoted in an error
)

// WSO2Config configures the WSO2 retriever (the WSO2 claimRetrieval
// configuration: serverUrl, username, password).
type WSO2Config struct {
	// ServerURL is the key manager's base URL, such as
	// https://localhost:9443; a trailing slash and a path prefix are
	// allowed. It must be http or https, have a host, and hold no
	// credentials, query or fragment.
	ServerURL string

	// Username and Password are sent with HTTP Basic auth. When both are
	// empty no Authorization header is sent. Username must not contain ":".
	Username, Password string

	// RootCAs is the trust for the key manager's TLS certificate; nil
	// means the system roots. Verification is never switched off.
	RootCAs *x509.CertPool

	// Timeout bounds each call, from connecting to reading the whole
	// answer, on top of the caller's context; 0 means DefaultTimeout.
	Timeout time.Duration

	// MaxBodyBytes caps the answer's body; a larger one is ErrUnavailable.
	// 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// WSO2 is the built-in retriever for the WSO2 key manager's claims API
// (the Microgateway's built-in retrieverImpl).
// It is safe for concurrent use.
//
// Each call POSTs {"username":"<user>"} to ServerURL + ClaimsPath with
// Basic auth and turns the answer's list of {"uri","value"} entries into
// claims named by uri.
//
// Redirects: one to another scheme, host or port is refused before it is
// made (ErrUnavailable), so the credentials never go there; one to the same
// scheme, host and port is followed, at most MaxRedirects times, with the
// credentials (a 307 or 308 resends the body; a 301, 302 or 303 becomes a
// GET, as net/http does).
//
// The HTTP proxy is taken from the environment (HTTPS_PROXY, HTTP_PROXY,
// NO_PROXY) as for any Go HTTP client.
type WSO2 struct {
	endpoint      string
	origin        string
	authorization string   // the Authorization header value, or ""
	secrets       []string // the credentials, redacted from error texts
	timeout       time.Duration
	maxBody       int64
	transport     *http.Transport
	client        *http.Client
}

// errCrossOriginRedirect is the cause of a refused redirect to another
// scheme, host or port.
var errCrossOriginRedirect = errors.New("redirect to another host refused")

// NewWSO2 validates cfg and returns a retriever with its own HTTP client
// and transport.
func NewWSO2(cfg WSO2Config) (*WSO2, error) {
	u, err := url.Parse(cfg.ServerURL)
	if err != nil {
		// The parse error quotes the URL, or a part of it, which may hold
		// a password: keep only its cause, and not even that when the URL
		// may hold credentials.
		if strings.Contains(cfg.ServerURL, "@") {
			return nil, errors.New("server URL does not parse (and must not hold credentials: give them as username and password)")
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("server URL does not parse: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("server URL %q: the scheme must be http or https", u.Redacted())
	case u.Opaque != "" || u.Hostname() == "":
		return nil, fmt.Errorf("server URL %q has no host", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("server URL %q holds credentials: give them as username and password", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("server URL %q must not have a query or fragment", u.Redacted())
	}
	if strings.Contains(cfg.Username, ":") {
		return nil, errors.New("the username must not contain ':' (HTTP Basic auth cannot carry it)")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("negative timeout %s", cfg.Timeout)
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("negative body cap %d", cfg.MaxBodyBytes)
	}

	w := &WSO2{
		endpoint: u.JoinPath(ClaimsPath).String(),
		origin:   originOf(u),
		timeout:  cfg.Timeout,
		maxBody:  cfg.MaxBodyBytes,
	}
	if w.timeout == 0 {
		w.timeout = DefaultTimeout
	}
	if w.maxBody == 0 {
		w.maxBody = DefaultMaxBodyBytes
	}
	if cfg.Username != "" || cfg.Password != "" {
		cred := base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password))
		w.authorization = "Basic " + cred
		w.secrets = append(w.secrets, cred)
		if p := cfg.Password; p != "" {
			// Also as a URL may quote it, escaped.
			w.secrets = append(w.secrets, p, url.PathEscape(p), url.QueryEscape(p))
		}
	}

	dialer := &net.Dialer{Timeout: w.timeout, KeepAlive: 30 * time.Second}
	w.transport = &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs:    cfg.RootCAs,
			MinVersion: tls.VersionTLS12,
		},
		TLSHandshakeTimeout:   w.timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	w.client = &http.Client{
		Transport:     w.transport,
		CheckRedirect: w.checkRedirect,
	}
	return w, nil
}

// originOf returns the scheme, host and port of u, the port made explicit.
func originOf(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// checkRedirect allows at most MaxRedirects redirects, all to the origin
// of the first request.
func (w *WSO2) checkRedirect(req *http.Request, via []*http.Request) error {
	if originOf(req.URL) != w.origin {
		return errCrossOriginRedirect
	}
	if len(via) > MaxRedirects {
		return fmt.Errorf("more than %d redirects", MaxRedirects)
	}
	return nil
}

// claimsRequest is the body of the claims API call.
type claimsRequest struct {
	Username string `json:"username"`
}

// Retrieve asks the key manager for the claims of req's user: req.Username,
// or Username(req.Subject) when that is empty. The call is bounded by the
// configured timeout on top of ctx. The claims are named by the answer's
// uris and hold its string values.
//
// Errors wrap ErrUserNotFound (a 404, or no user name) or ErrUnavailable
// (anything else). They never hold the password, the Authorization header
// or a whole body; a short excerpt of an unexpected answer is quoted.
func (w *WSO2) Retrieve(ctx context.Context, req *Request) (map[string]any, error) {
	if req == nil {
		return nil, errNilRequest
	}
	user := req.user()
	if user == "" {
		return nil, fmt.Errorf("%w: the token names no user (empty sub)", ErrUserNotFound)
	}
	body, err := json.Marshal(claimsRequest{Username: user})
	if err != nil {
		return nil, fmt.Errorf("encoding the claims request: %w", err)
	}

	callCtx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(callCtx, http.MethodPost, w.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the claims request: %w", err)
	}
	if w.authorization != "" {
		hreq.Header.Set("Authorization", w.authorization)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")

	resp, err := w.client.Do(hreq)
	if err != nil {
		return nil, w.callError(ctx, callCtx, "calling the key manager", err)
	}
	defer drainAndClose(resp.Body)

	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w: the key manager does not know user %.64q (%s%s)",
			ErrUserNotFound, user, resp.Status, w.bodyExcerpt(resp.Body))
	default:
		return nil, fmt.Errorf("%w: the key manager answered %s for user %.64q%s",
			ErrUnavailable, resp.Status, user, w.bodyExcerpt(resp.Body))
	}

	data, err := io.ReadAll(io.LimitReader(resp.Body, w.maxBody+1))
	if err != nil {
		return nil, w.callError(ctx, callCtx, "reading the key manager's answer", err)
	}
	if int64(len(data)) > w.maxBody {
		return nil, fmt.Errorf("%w: the key manager's answer is larger than %d bytes", ErrUnavailable, w.maxBody)
	}
	claims, err := parseClaims(data)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed claims answer: %w (body starts %s)", ErrUnavailable, err, w.excerpt(data))
	}
	return claims, nil
}

// callError wraps a failed call or body read in ErrUnavailable, saying when
// it was this retriever's own timeout that ended it. The text of err, which
// may quote a URL the key manager redirected to, is redacted.
func (w *WSO2) callError(ctx, callCtx context.Context, doing string, err error) error {
	err = &redactedError{err: err, msg: w.redact(err.Error())}
	if errors.Is(callCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("%w: %s: no answer within %s: %w", ErrUnavailable, doing, w.timeout, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, doing, err)
}

// redactedError is an error whose text has had the credentials removed; it
// still unwraps to the original.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact replaces the credentials in s.
func (w *WSO2) redact(s string) string {
	for _, secret := range w.secrets {
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	return s
}

// Close closes the idle connections to the key manager. The retriever
// still works afterwards, opening new ones.
func (w *WSO2) Close() {
	w.transport.CloseIdleConnections()
}

// drainAndClose reads what is left of body, up to drainLimit, so that the
// connection can be reused, and closes it.
func drainAndClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	_ = body.Close()
}

// bodyExcerpt returns ", body " and a short quoted excerpt of an error
// answer's body, or "" for an empty one.
func (w *WSO2) bodyExcerpt(body io.Reader) string {
	data, _ := io.ReadAll(io.LimitReader(body, excerptReadMax))
	if len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	return ", body " + w.excerpt(data)
}

// excerpt quotes the start of data, at most excerptLen bytes of valid
// UTF-8, with the credentials redacted.
func (w *WSO2) excerpt(data []byte) string {
	s := string(data)
	truncated := false
	if len(s) > excerptReadMax {
		s = s[:excerptReadMax]
		truncated = true
	}
	s = w.redact(s)
	if len(s) > excerptLen {
		cut := excerptLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
		truncated = true
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if truncated {
		return fmt.Sprintf("%q...", s)
	}
	return fmt.Sprintf("%q", s)
}

// parseClaims reads the claims API's answer,
// {"count":N,"list":[{"uri":"...","value":"..."}, ...]}. Entries without a
// uri (missing, null or "") or without a value (missing or null) are
// skipped; the last of two entries with the same uri wins. The body must be
// a JSON object with a "list" array (null counts as empty) of objects whose
// uri and value, when present, are strings; "count", when present, must be
// a number. Other members are ignored.
func parseClaims(data []byte) (map[string]any, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if top == nil {
		return nil, errors.New("not a JSON object: null")
	}
	if raw, ok := top["count"]; ok && !isNull(raw) {
		var n float64
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, errors.New(`"count" is not a number`)
		}
	}
	rawList, ok := top["list"]
	if !ok {
		return nil, errors.New(`no "list" member`)
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(rawList, &list); err != nil {
		return nil, errors.New(`"list" is not an array of objects`)
	}
	claims := make(map[string]any, len(list))
	for i, entry := range list {
		if entry == nil {
			return nil, fmt.Errorf(`"list" entry %d is not an object`, i)
		}
		uri, ok, err := optString(entry, "uri")
		if err != nil {
			return nil, fmt.Errorf(`"list" entry %d: %w`, i, err)
		}
		if !ok || uri == "" {
			continue
		}
		value, ok, err := optString(entry, "value")
		if err != nil {
			return nil, fmt.Errorf(`"list" entry %d (%.64q): %w`, i, uri, err)
		}
		if !ok {
			continue
		}
		claims[uri] = value
	}
	return claims, nil
}

// optString returns the string member name of obj; ok is false when it is
// missing or null, and err is set when it is something else.
func optString(obj map[string]json.RawMessage, name string) (s string, ok bool, err error) {
	raw, found := obj[name]
	if !found || isNull(raw) {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, fmt.Errorf("%q is not a string", name)
	}
	return s, true, nil
}

// isNull reports whether raw is the JSON literal null.
func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
