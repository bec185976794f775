package apimdata

import (
	"context"
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

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/loopback"
)

// DataPath is where API Manager serves its internal data API, under the
// server URL.
const DataPath = "/internal/data/v1"

// DefaultTenant is API Manager's super tenant, the xWSO2Tenant header's default.
const DefaultTenant = "carbon.super"

// DefaultMaxDataSize caps the answers of one read together (the five
// lists of a full read, or the three answers of a consumer key's read). A
// list of 100,000 subscriptions is about 30 MB of JSON.
const DefaultMaxDataSize = 128 << 20

// maxRedirects bounds redirects within the server's own origin.
const maxRedirects = 3

// Source says where API Manager's data is and how to read it.
type Source struct {
	// ServerURL is API Manager's base URL (scheme, host, port, optional
	// path), such as https://apim.example.com:9443. It must be https,
	// except for a loopback host.
	ServerURL string
	// Username and Password are the HTTP Basic credentials.
	Username, Password string
	// Tenant is sent as the xWSO2Tenant header; empty means DefaultTenant.
	Tenant string
	// KeyManager, when set, keeps only the key mappings of that key manager.
	KeyManager string
}

// Client reads the data API. It never follows a redirect to another
// origin, never puts the credentials in an error, and decodes the answers
// as they stream, within MaxDataSize per read.
type Client struct {
	src         Source
	base        *url.URL // ServerURL + DataPath
	http        *http.Client
	maxDataSize int64
	timeout     time.Duration
}

// DefaultTimeout bounds one call, connection to last byte.
const DefaultTimeout = 10 * time.Second

// ClientOptions tune a Client; zero values take the defaults.
type ClientOptions struct {
	// Transport sends the requests; nil means a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds one call, connection to last byte; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxDataSize caps the answers of one read together, in bytes, each
	// decoded record counted with its in-memory cost; 0 means
	// DefaultMaxDataSize.
	MaxDataSize int64
}

// NewClient checks src and returns a client for it.
func NewClient(src Source, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(src.ServerURL)
	if err != nil {
		// url.Error repeats the URL, which may hold credentials.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("server_url: %w", err)
	}
	switch {
	case u.User != nil:
		return nil, errors.New("server_url must not hold credentials: use username and password")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("server_url %q: want an http or https URL", src.ServerURL)
	case u.Host == "":
		return nil, fmt.Errorf("server_url %q: no host", src.ServerURL)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("server_url %q: no query or fragment allowed", src.ServerURL)
	case u.Scheme == "http" && !loopback.IsHost(u.Hostname()):
		return nil, fmt.Errorf("server_url %q: want https (http only for a loopback host): "+
			"Basic credentials would travel in clear text", src.ServerURL)
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
	if opts.MaxDataSize <= 0 {
		opts.MaxDataSize = DefaultMaxDataSize
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
		maxDataSize: opts.MaxDataSize,
		timeout:     opts.Timeout,
	}, nil
}

// Source returns the client's source, with the tenant filled in.
func (c *Client) Source() Source { return c.src }

// CloseIdleConnections closes the client's idle connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// ReadAll reads the five lists, in parallel, within one MaxDataSize
// budget. Any failure fails the whole read: a snapshot is complete or is
// not made.
func (c *Client) ReadAll(ctx context.Context) (*Data, error) {
	var d Data
	b := c.newBudget()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.get(ctx, "/apis", nil, b, listOf(&d.APIs)) })
	g.Go(func() error { return c.get(ctx, "/applications", nil, b, listOf(&d.Applications)) })
	g.Go(func() error { return c.get(ctx, "/application-key-mappings", nil, b, listOf(&d.KeyMappings)) })
	g.Go(func() error { return c.get(ctx, "/subscriptions", nil, b, listOf(&d.Subscriptions)) })
	g.Go(func() error { return c.get(ctx, "/revokedjwt", nil, b, revokedInto(&d)) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return &d, nil
}

// ReadConsumerKey reads the key mappings of one consumer key, then the
// application of the first one (of the key manager, when set) and that
// application's subscriptions, within one MaxDataSize budget of its own.
// No mapping is no error: the Data is empty.
func (c *Client) ReadConsumerKey(ctx context.Context, consumerKey string) (*Data, error) {
	var d Data
	b := c.newBudget()
	q := url.Values{"consumerKey": {consumerKey}}
	if c.src.KeyManager != "" {
		q.Set("keymanager", c.src.KeyManager)
	}
	var mappings []KeyMapping
	if err := c.get(ctx, "/application-key-mappings", q, b, listOf(&mappings)); err != nil {
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
	g.Go(func() error { return c.get(ctx, "/applications", appID, b, listOf(&d.Applications)) })
	g.Go(func() error { return c.get(ctx, "/subscriptions", appID, b, listOf(&d.Subscriptions)) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return &d, nil
}

// get sends one GET of the data API and hands a 200 JSON answer to decode
// as it streams, charging what it reads to b.
func (c *Client) get(ctx context.Context, path string, query url.Values, b *budget, decode func(*stream) error) error {
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
		// url.Error repeats the URL, whose query may hold a consumer key.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
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
	s := newStream(resp.Body, b)
	if err := decode(s); err != nil {
		return s.explain(path, err)
	}
	return nil
}
