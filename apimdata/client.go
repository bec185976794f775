package apimdata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// DataPath is where API Manager serves its internal data API, under the
// server URL.
const DataPath = "/internal/data/v1"

// DefaultTenant is API Manager's super tenant, the xWSO2Tenant header's default.
const DefaultTenant = "carbon.super"

// DefaultMaxBody caps one answer of the data API. A list of 100,000
// subscriptions is about 30 MB.
const DefaultMaxBody = 256 << 20

// maxRedirects bounds redirects within the server's own origin.
const maxRedirects = 3

// Source says where API Manager's data is and how to read it.
type Source struct {
	// ServerURL is API Manager's base URL (scheme, host, port, optional
	// path), such as https://apim.example.com:9443.
	ServerURL string
	// Username and Password are the HTTP Basic credentials.
	Username, Password string
	// Tenant is sent as the xWSO2Tenant header; empty means DefaultTenant.
	Tenant string
	// KeyManager, when set, keeps only the key mappings of that key manager.
	KeyManager string
}

// Client reads the data API. It never follows a redirect to another
// origin, never puts the credentials in an error, and caps every answer.
type Client struct {
	src     Source
	base    *url.URL // ServerURL + DataPath
	http    *http.Client
	maxBody int64
	timeout time.Duration
}

// DefaultTimeout bounds one call, connection to last byte.
const DefaultTimeout = 10 * time.Second

// ClientOptions tune a Client; zero values take the defaults.
type ClientOptions struct {
	// Transport sends the requests; nil means a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds one call, connection to last byte; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxBody caps one answer, in bytes; 0 means DefaultMaxBody.
	MaxBody int64
}

// NewClient checks src and returns a client for it.
func NewClient(src Source, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(src.ServerURL)
	if err != nil {
		return nil, fmt.Errorf("server_url: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("server_url %q: want an http or https URL", src.ServerURL)
	case u.Host == "":
		return nil, fmt.Errorf("server_url %q: no host", src.ServerURL)
	case u.User != nil:
		return nil, errors.New("server_url must not hold credentials: use username and password")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("server_url %q: no query or fragment allowed", src.ServerURL)
	}
	if src.Tenant == "" {
		src.Tenant = DefaultTenant
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + DataPath
	origin := u.Scheme + "://" + u.Host
	return &Client{
		src:  src,
		base: u,
		http: &http.Client{
			Transport: opts.Transport,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if got := req.URL.Scheme + "://" + req.URL.Host; got != origin {
					return fmt.Errorf("redirect to another origin (%s) refused", got)
				}
				if len(via) > maxRedirects {
					return fmt.Errorf("more than %d redirects", maxRedirects)
				}
				return nil
			},
		},
		maxBody: opts.MaxBody,
		timeout: opts.Timeout,
	}, nil
}

// Source returns the client's source, with the tenant filled in.
func (c *Client) Source() Source { return c.src }

// CloseIdleConnections closes the client's idle connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// ReadAll reads the five lists, in parallel. Any failure fails the whole
// read: a snapshot is complete or is not made.
func (c *Client) ReadAll(ctx context.Context) (*Data, error) {
	var d Data
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.list(ctx, "/apis", nil, &d.APIs) })
	g.Go(func() error { return c.list(ctx, "/applications", nil, &d.Applications) })
	g.Go(func() error { return c.list(ctx, "/application-key-mappings", nil, &d.KeyMappings) })
	g.Go(func() error { return c.list(ctx, "/subscriptions", nil, &d.Subscriptions) })
	g.Go(func() (err error) { d.Revoked, err = c.revoked(ctx); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return &d, nil
}

// ReadConsumerKey reads the key mappings of one consumer key, then the
// application of the first one (of the key manager, when set) and that
// application's subscriptions. No mapping is no error: the Data is empty.
func (c *Client) ReadConsumerKey(ctx context.Context, consumerKey string) (*Data, error) {
	var d Data
	q := url.Values{"consumerKey": {consumerKey}}
	if c.src.KeyManager != "" {
		q.Set("keymanager", c.src.KeyManager)
	}
	var mappings []KeyMapping
	if err := c.list(ctx, "/application-key-mappings", q, &mappings); err != nil {
		return nil, err
	}
	for _, m := range mappings {
		if m.ConsumerKey == consumerKey && (c.src.KeyManager == "" || m.KeyManager == c.src.KeyManager) {
			d.KeyMappings = []KeyMapping{m}
			break
		}
	}
	if len(d.KeyMappings) == 0 {
		return &d, nil
	}
	appID := url.Values{"appId": {strconv.Itoa(d.KeyMappings[0].ApplicationID)}}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.list(ctx, "/applications", appID, &d.Applications) })
	g.Go(func() error { return c.list(ctx, "/subscriptions", appID, &d.Subscriptions) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return &d, nil
}

// revoked reads /revokedjwt: a JSON array of revoked tokens (API Manager
// 3.2 to 4.1), or an object whose revokedJWTList is that array (later
// releases, which also list revoked consumer keys and users; those lists
// are not read).
func (c *Client) revoked(ctx context.Context) ([]RevokedToken, error) {
	var raw json.RawMessage
	if err := c.get(ctx, "/revokedjwt", nil, &raw); err != nil {
		return nil, err
	}
	var list []RevokedToken
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		var events struct {
			RevokedJWTList []RevokedToken `json:"revokedJWTList"`
		}
		if err := json.Unmarshal(raw, &events); err != nil {
			return nil, fmt.Errorf("GET /revokedjwt: reading the revoked tokens: %w", err)
		}
		return events.RevokedJWTList, nil
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("GET /revokedjwt: reading the revoked tokens: %w", err)
	}
	return list, nil
}

// list reads one {"count":N,"list":[…]} answer into dst.
func (c *Client) list(ctx context.Context, path string, query url.Values, dst any) error {
	var answer struct {
		Count *int             `json:"count"`
		List  *json.RawMessage `json:"list"`
	}
	if err := c.get(ctx, path, query, &answer); err != nil {
		return err
	}
	if answer.List == nil {
		return fmt.Errorf("GET %s: the answer has no list", path)
	}
	if err := json.Unmarshal(*answer.List, dst); err != nil {
		return fmt.Errorf("GET %s: reading the list: %w", path, err)
	}
	if answer.Count != nil {
		if n := listLen(dst); *answer.Count != n {
			return fmt.Errorf("GET %s: count %d but %d entries", path, *answer.Count, n)
		}
	}
	return nil
}

func listLen(dst any) int {
	switch l := dst.(type) {
	case *[]API:
		return len(*l)
	case *[]Application:
		return len(*l)
	case *[]KeyMapping:
		return len(*l)
	case *[]Subscription:
		return len(*l)
	}
	panic(fmt.Sprintf("apimdata: list of %T", dst))
}

// get reads one JSON answer of the data API into dst.
func (c *Client) get(ctx context.Context, path string, query url.Values, dst any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	req.SetBasicAuth(c.src.Username, c.src.Password)
	req.Header.Set("xWSO2Tenant", c.src.Tenant)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil ||
		(mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return fmt.Errorf("GET %s: answer of type %.64q is not JSON", path, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return fmt.Errorf("GET %s: reading the answer: %w", path, err)
	}
	if int64(len(body)) > c.maxBody {
		return fmt.Errorf("GET %s: answer larger than %d bytes", path, c.maxBody)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("GET %s: malformed answer: %w", path, err)
	}
	return nil
}
