package caddymodule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/apimdata"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

// APIManagerConfig says where API Manager's internal data API is (WSO2
// [controlPlane.eventHub]): from API Manager 3.2 on, subscriptions, the
// application claims and the revoked tokens come from there (SPEC 11).
type APIManagerConfig struct {
	// ServerURL is API Manager's base URL; the data API is
	// {server_url}/internal/data/v1.
	ServerURL string `json:"server_url"`
	// Username and Password are the HTTP Basic credentials of the data API.
	// Placeholders such as {env.APIM_PASSWORD} are replaced at provision.
	Username string `json:"username"`
	Password string `json:"password"`
	// CACert is a PEM file of the CAs that API Manager's certificate is
	// checked against; none means the system roots. Verification is never off.
	CACert string `json:"ca_cert,omitempty"`
	// Tenant is sent as the xWSO2Tenant header. Default: carbon.super.
	Tenant string `json:"tenant,omitempty"`
	// TenantID is the tenant's id, the backend JWT's enduserTenantId:
	// -1234 for carbon.super; -1 for another tenant without it.
	TenantID *int `json:"tenant_id,omitempty"`
	// KeyManager keeps only the key mappings of this key manager. Default: all.
	KeyManager string `json:"key_manager,omitempty"`
	// Refresh is the period of full re-reads; at least 1s. Default: 30s.
	Refresh caddy.Duration `json:"refresh,omitempty"`
	// Timeout bounds one call, connection to last byte. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxDataSize caps the answers of one full read together, in bytes
	// (a targeted read has the same cap): a read past it fails and the
	// last good data stays in use. Default: 128 MiB.
	MaxDataSize int64 `json:"max_data_size,omitempty"`
}

// minAPIManagerRefresh is the shortest refresh accepted.
const minAPIManagerRefresh = time.Second

// apimPool holds one reader and snapshot per source (server URL, tenant,
// key manager, credentials), shared by every handler naming it, in this
// config and the next: the data survives reloads.
var apimPool = caddy.NewUsagePool()

// apimSources are the sources in the pool, for the metrics.
var apimSources sync.Map // pool key -> *apimSource

// apimSource is one pooled reader.
type apimSource struct {
	key      string
	lineage  string // server URL, tenant and key manager: the same data, whatever the credentials
	label    string // server URL and tenant, for metrics and logs
	store    *apimdata.Store
	ctx      context.Context // the reader's lifetime
	cancel   context.CancelFunc
	runOnce  sync.Once
	done     chan struct{} // closed when the reader has stopped, or never ran
	lastWarn atomic.Int64  // unix nanoseconds of the last warning
}

// start applies the settings of a config that now runs (its client: CA,
// timeout, max_data_size; its refresh) and starts the reader if it is not
// reading yet.
func (s *apimSource) start(client *apimdata.Client, refresh time.Duration) {
	s.store.Configure(client, refresh)
	s.runOnce.Do(func() {
		go func() { defer close(s.done); s.store.Run(s.ctx) }()
	})
}

// Destruct stops the reader once the last handler using it is cleaned up.
func (s *apimSource) Destruct() error {
	apimSources.Delete(s.key)
	s.cancel()
	s.runOnce.Do(func() { close(s.done) }) // it never ran
	<-s.done
	return nil
}

// apimBinding is a handler's use of a source; it never changes.
type apimBinding struct {
	src        *apimSource
	client     *apimdata.Client // made from the handler's config
	refresh    time.Duration
	tenant     string
	tenantID   string // the backend JWT's enduserTenantId
	retryAfter string // seconds, for the 503s of API Manager outages
}

// start applies the handler's settings to the shared reader and starts it.
func (b *apimBinding) start() { b.src.start(b.client, b.refresh) }

// provisionAPIManager checks api_manager, and binds the handler to the
// pooled reader of its source, making it when no config has it yet (seeded
// with the data of a reader of the same API Manager, tenant and key
// manager, so a change of credentials has no window without data). The
// reader starts, and takes this config's settings, only when the config
// runs (apimBinding.start): a config that fails to load changes nothing.
func (h *Handler) provisionAPIManager() (*apimBinding, error) {
	c := h.APIManager
	if c == nil {
		return nil, nil
	}
	repl := caddy.NewReplacer()
	src := apimdata.Source{
		ServerURL:  repl.ReplaceKnown(c.ServerURL, ""),
		Username:   repl.ReplaceKnown(c.Username, ""),
		Password:   repl.ReplaceKnown(c.Password, ""),
		Tenant:     c.Tenant,
		KeyManager: c.KeyManager,
	}
	if src.Tenant == "" {
		src.Tenant = apimdata.DefaultTenant
	}
	if src.Username == "" || src.Password == "" {
		return nil, errors.New("api_manager needs a username and a password")
	}
	refresh := time.Duration(c.Refresh)
	if refresh == 0 {
		refresh = apimdata.DefaultRefresh
	}
	if refresh < minAPIManagerRefresh {
		return nil, fmt.Errorf("api_manager refresh %v: must be at least %v", refresh, minAPIManagerRefresh)
	}
	if c.Timeout < 0 {
		return nil, fmt.Errorf("api_manager timeout %v: must be positive", time.Duration(c.Timeout))
	}
	if c.MaxDataSize < 0 {
		return nil, fmt.Errorf("api_manager max_data_size %d: must be positive", c.MaxDataSize)
	}
	transport, err := tlsTransport(c.CACert)
	if err != nil {
		return nil, fmt.Errorf("api_manager: %w", err)
	}
	client, err := apimdata.NewClient(src, apimdata.ClientOptions{
		Transport: transport, Timeout: time.Duration(c.Timeout), MaxDataSize: c.MaxDataSize,
	})
	if err != nil {
		return nil, fmt.Errorf("api_manager: %w", err)
	}
	lineage := src.ServerURL + "\x00" + src.Tenant + "\x00" + src.KeyManager
	sum := sha256.Sum256([]byte(lineage + "\x00" + src.Username + "\x00" + src.Password))
	key := "backend_jwt.api_manager." + hex.EncodeToString(sum[:])
	pooled, _, err := apimPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		ctx, cancel := context.WithCancel(context.Background())
		s := &apimSource{key: key, lineage: lineage, label: src.ServerURL + " " + src.Tenant,
			ctx: ctx, cancel: cancel, done: make(chan struct{})}
		s.store = apimdata.NewStore(client, apimdata.StoreOptions{
			Refresh: refresh, OnRead: s.observe, Seed: lastGoodData(lineage),
		})
		apimSources.Store(key, s)
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	s := pooled.(*apimSource)
	return &apimBinding{
		src:        s,
		client:     client,
		refresh:    refresh,
		tenant:     src.Tenant,
		tenantID:   tenantID(src.Tenant, c.TenantID),
		retryAfter: fmt.Sprint(int(math.Ceil(s.store.RetryAfter().Seconds()))),
	}, nil
}

// superTenant is API Manager's super tenant and its id.
const (
	superTenant   = "carbon.super"
	superTenantID = -1234
)

// tenantID is the enduserTenantId API Manager's gateway writes for tenant:
// the configured id, -1234 for carbon.super, else -1 (an unknown tenant).
func tenantID(tenant string, configured *int) string {
	switch {
	case configured != nil:
		return strconv.Itoa(*configured)
	case tenant == superTenant:
		return strconv.Itoa(superTenantID)
	}
	return "-1"
}

// lastGoodData is the newest data that a reader of lineage holds, or nil.
func lastGoodData(lineage string) *apimdata.Snapshot {
	var newest *apimdata.Snapshot
	apimSources.Range(func(_, v any) bool {
		s := v.(*apimSource)
		if snap := s.store.Snapshot(); s.lineage == lineage && snap != nil && (newest == nil || snap.ReadAt.After(newest.ReadAt)) {
			newest = snap
		}
		return true
	})
	return newest
}

// observe logs a read of the source: a failed one as a warning, at most
// one per source every warnEvery (the last good data stays in use). The
// reader outlives configs, so it logs to Caddy's current default logger.
func (s *apimSource) observe(r apimdata.ReadResult) {
	kind := "full"
	if r.Targeted {
		kind = "consumer_key"
	}
	logger := caddy.Log().Named("http.handlers.backend_jwt.api_manager")
	if r.Err == nil {
		logger.Debug("API Manager data read", zap.String("source", s.label), zap.String("read", kind),
			zap.Duration("duration", r.Duration), zap.Any("counts", r.Counts))
		return
	}
	now := time.Now().UnixNano()
	if last := s.lastWarn.Load(); now-last < int64(warnEvery) || !s.lastWarn.CompareAndSwap(last, now) {
		return
	}
	logger.Warn("API Manager data read failed; the last good data stays in use",
		zap.String("source", s.label), zap.String("read", kind), zap.Error(r.Err))
}

// errRevoked is behind the 401 of a token in API Manager's revoked lists.
var errRevoked = errors.New("the token is in API Manager's revoked list")

// checkAPIManager applies API Manager's data to a validated token (SPEC
// 11): the revoked list, then, for a token without subscribedAPIs, its
// application and subscription. It returns what it found (for the
// backend JWT's claims) or the fault to refuse the request with.
func (h *Handler) checkAPIManager(ctx context.Context, tok *validator.Token) (apimdata.Result, *fault, error) {
	store := h.apim.src.store
	snap := store.Snapshot()
	if snap == nil {
		return apimdata.Result{}, faultAPIMUnavailable, apimdata.ErrNotReady
	}
	if snap.Revoked(tok.Signature) || snap.RevokedBefore(tok.ConsumerKey, tok.Subject, tok.IssuedAt, applicationToken(tok)) {
		h.forget(tok)
		return apimdata.Result{}, faultInvalid, errRevoked
	}
	if _, listed := tok.Claims["subscribedAPIs"]; listed {
		return apimdata.Result{}, nil, nil // an API Manager 3.0/3.1 token, checked by the validator
	}
	if !tok.Issuer.ValidateSubscription || h.API == nil {
		// Only the application claims: no read on behalf of a token
		// whose issuer does not ask for the check.
		return snap.Check(tok.ConsumerKey, h.apiName, h.apiVersion), nil, nil
	}
	// A consumer key that API Manager's data does not hold yet is read on
	// its own; a failed read is an outage, not the caller's fault.
	res, err := store.Check(ctx, tok.ConsumerKey, h.apiName, h.apiVersion)
	if err != nil {
		if c := h.warnings.Check(zapcore.WarnLevel, "API Manager read of an unknown consumer key failed"); c != nil {
			c.Write(zap.String("consumer_key", tok.ConsumerKey), zap.Error(err))
		}
		return res, faultAPIMUnavailable, err
	}
	switch res.Outcome {
	case apimdata.Pass:
		return res, nil, nil
	case apimdata.APIBlocked, apimdata.SubscriptionBlocked:
		return res, faultBlocked, fmt.Errorf("API Manager: %v", res.Outcome)
	case apimdata.SubscriptionInactive:
		return res, faultInactive, fmt.Errorf("API Manager: subscription %s", res.Subscription.State)
	case apimdata.NoAPI:
		if c := h.warnings.Check(zapcore.WarnLevel, "the route's api is not known to API Manager"); c != nil {
			c.Write(zap.String("api", h.apiName), zap.String("version", h.apiVersion))
		}
	}
	return res, faultForbidden, fmt.Errorf("%w: API Manager: %v (consumer key %q)", validator.ErrNotSubscribed, res.Outcome, tok.ConsumerKey)
}

// applicationToken tells whether a token was issued to an application on
// its own (client credentials): its aut is APPLICATION, in any case.
func applicationToken(tok *validator.Token) bool {
	return bytes.EqualFold(tok.Claims["aut"], autApplication)
}

// autApplication is the aut claim of a token issued to an application.
var autApplication = []byte(`"APPLICATION"`)

// fill gives the backend JWT's input what API Manager's data holds for a
// token without an application object: the application (its id, name,
// owner, tier, attributes), the subscription's tier, the key type, and the
// subscriber's tenant and its id (SPEC 11, 14).
func (b *apimBinding) fill(in *jwtgen.Input, app *apimdata.Application, mapping *apimdata.KeyMapping, sub *apimdata.Subscription) {
	in.Application = &jwtgen.Application{ID: int64(app.ID), UUID: app.UUID, Name: app.Name, Subscriber: app.Subscriber, Tier: app.Policy}
	in.ApplicationAttributes = app.Attributes
	in.SubscriberTenant, in.TenantID = b.tenant, b.tenantID
	if sub != nil {
		in.Subscription = &jwtgen.Subscription{Tier: sub.PolicyID, TenantDomain: b.tenant}
	}
	if mapping != nil {
		in.KeyType = mapping.KeyType
	}
}

// apimCollector exports, per API Manager source, the age of its data, the
// record counts and the failed reads, computed when scraped.
type apimCollector struct{}

var (
	apimAgeDesc = prometheus.NewDesc("caddy_backend_jwt_api_manager_data_age_seconds",
		"Time since API Manager's data was last read completely (absent before the first read).", []string{"source"}, nil)
	apimCountDesc = prometheus.NewDesc("caddy_backend_jwt_api_manager_records",
		"Records in API Manager's data, by kind.", []string{"source", "kind"}, nil)
	apimErrorsDesc = prometheus.NewDesc("caddy_backend_jwt_api_manager_read_errors_total",
		"Reads of API Manager's data that failed.", []string{"source"}, nil)
)

// Describe implements prometheus.Collector.
func (apimCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- apimAgeDesc
	ch <- apimCountDesc
	ch <- apimErrorsDesc
}

// Collect implements prometheus.Collector.
func (apimCollector) Collect(ch chan<- prometheus.Metric) {
	apimSources.Range(func(_, v any) bool {
		s := v.(*apimSource)
		ch <- prometheus.MustNewConstMetric(apimErrorsDesc, prometheus.CounterValue, float64(s.store.ReadErrors()), s.label)
		snap := s.store.Snapshot()
		if snap == nil {
			return true
		}
		ch <- prometheus.MustNewConstMetric(apimAgeDesc, prometheus.GaugeValue, time.Since(snap.ReadAt).Seconds(), s.label)
		c := snap.Counts
		for _, kc := range []struct {
			kind string
			n    int
		}{{"apis", c.APIs}, {"applications", c.Applications}, {"key_mappings", c.KeyMappings},
			{"subscriptions", c.Subscriptions}, {"revoked_tokens", c.Revoked}} {
			ch <- prometheus.MustNewConstMetric(apimCountDesc, prometheus.GaugeValue, float64(kc.n), s.label, kc.kind)
		}
		return true
	})
}
