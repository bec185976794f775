package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/revocation"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// DefaultRevocationSync is how often the revocations in Caddy's storage are read.
const DefaultRevocationSync = 10 * time.Second

// maxAdminBody caps a request body of the admin routes.
const maxAdminBody = 64 << 10

// revocations are the revoked tokens of this process, shared by every
// handler and the admin API; revocationSyncer keeps them equal to the storage.
var revocations = revocation.NewList()

// liveHandlers are the provisioned handlers, for flush and status.
var liveHandlers sync.Map // *Handler -> struct{}

// AdminAPI is the admin.api.backend_jwt module: the routes of SPEC 12 on
// Caddy's admin endpoint, under its access control.
type AdminAPI struct {
	storage certmagic.Storage
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.backend_jwt",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision takes the config's storage, where revocations are kept.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.storage = storageOf(ctx)
	return nil
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/backend_jwt/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	route := r.Method + " " + strings.TrimSuffix(r.URL.Path, "/")
	switch route {
	case "POST /backend_jwt/revocations":
		return a.revoke(w, r)
	case "GET /backend_jwt/revocations":
		return writeJSON(w, http.StatusOK, listRevocations())
	case "POST /backend_jwt/flush":
		return writeJSON(w, http.StatusOK, map[string]int{"handlers": flushAll()})
	case "POST /backend_jwt/api_manager/refresh":
		return refreshAPIManager(w, r)
	case "GET /backend_jwt/status":
		return writeJSON(w, http.StatusOK, status())
	}
	for _, known := range []string{"/backend_jwt/revocations", "/backend_jwt/flush", "/backend_jwt/api_manager/refresh", "/backend_jwt/status"} {
		if strings.TrimSuffix(r.URL.Path, "/") == known {
			return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed on %s", r.Method, known)}
		}
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no backend_jwt admin route %s", r.URL.Path)}
}

// revoke adds one revocation from a JSON body.
func (a *AdminAPI) revoke(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		return badRequest(fmt.Errorf("reading the body: %w (at most %d bytes)", err, maxAdminBody))
	}
	var in struct {
		JTI         *string `json:"jti"`
		Signature   *string `json:"signature"`
		TokenSHA256 *string `json:"token_sha256"`
		ConsumerKey *string `json:"consumer_key"`
		Subject     *string `json:"subject"`
		Exp         *int64  `json:"exp"`
		Before      *int64  `json:"before"`
		Until       *int64  `json:"until"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return badRequest(fmt.Errorf("want {\"jti\"|\"signature\"|\"token_sha256\":\"…\",\"exp\":<seconds>} "+
			"or {\"consumer_key\"|\"subject\":\"…\",\"before\":<seconds>[,\"until\":<seconds>]}: %w", err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest(errors.New("the body holds something after its one JSON object"))
	}
	bulk := in.ConsumerKey != nil || in.Subject != nil
	if in.Exp == nil && !bulk {
		return badRequest(errors.New("exp is missing: the token's exp, in seconds since the epoch"))
	}
	var e revocation.Entry
	for _, n := range []struct {
		in *int64
		to *int64
	}{{in.Exp, &e.Exp}, {in.Before, &e.Before}, {in.Until, &e.Until}} {
		if n.in != nil {
			*n.to = *n.in
		}
	}
	for _, m := range []struct {
		name string
		in   *string
		to   *string
	}{{"jti", in.JTI, &e.JTI}, {"signature", in.Signature, &e.Signature}, {"token_sha256", in.TokenSHA256, &e.TokenSHA256},
		{"consumer_key", in.ConsumerKey, &e.ConsumerKey}, {"subject", in.Subject, &e.Subject}} {
		if m.in != nil && *m.in == "" {
			return badRequest(fmt.Errorf("%s is empty", m.name))
		}
		if m.in != nil {
			*m.to = *m.in
		}
	}
	e, err = revocations.Add(r.Context(), a.storage, e, time.Now())
	switch {
	case errors.Is(err, revocation.ErrNotStored):
		// In force here already; the syncer writes it when storage is back.
		return writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "local": true})
	case errors.Is(err, revocation.ErrFull):
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
	case err != nil:
		return badRequest(err)
	}
	return writeJSON(w, http.StatusCreated, listed(e))
}

// listedRevocation is an entry as the admin API shows it: never a whole signature.
type listedRevocation struct {
	JTI         string    `json:"jti,omitempty"`
	Signature   string    `json:"signature,omitempty"`    // its first 16 characters
	TokenSHA256 string    `json:"token_sha256,omitempty"` // its first 16 characters
	ConsumerKey string    `json:"consumer_key,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	Exp         int64     `json:"exp,omitempty"`
	Before      int64     `json:"before,omitempty"`
	Until       int64     `json:"until,omitempty"`
	Added       time.Time `json:"added"`
}

func listed(e revocation.Entry) listedRevocation {
	return listedRevocation{
		JTI: e.JTI, Signature: prefix16(e.Signature), TokenSHA256: prefix16(e.TokenSHA256),
		ConsumerKey: e.ConsumerKey, Subject: e.Subject,
		Exp: e.Exp, Before: e.Before, Until: e.Until, Added: time.Unix(e.Added, 0).UTC(),
	}
}

// prefix16 is what the admin API shows of a signature or a token's hash.
func prefix16(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

func listRevocations() map[string]any {
	_, skew := revocationSettings()
	entries := revocations.Entries(time.Now(), skew)
	out := make([]listedRevocation, 0, len(entries))
	for _, e := range entries {
		out = append(out, listed(e))
	}
	slices.SortFunc(out, func(a, b listedRevocation) int { return a.Added.Compare(b.Added) })
	return map[string]any{"count": len(out), "revocations": out}
}

// flushAll empties every handler's caches and returns how many there are.
func flushAll() int {
	n := 0
	liveHandlers.Range(func(k, _ any) bool {
		k.(*Handler).flush()
		n++
		return true
	})
	return n
}

// refreshAPIManager re-reads every API Manager source now.
func refreshAPIManager(w http.ResponseWriter, r *http.Request) error {
	type result struct {
		Source string `json:"source"`
		Error  string `json:"error,omitempty"`
		apimCounts
	}
	var results []result
	apimSources.Range(func(_, v any) bool {
		s := v.(*apimSource)
		res := result{Source: s.label}
		if err := s.store.Reload(r.Context()); err != nil {
			res.Error = err.Error()
		}
		res.apimCounts = countsOf(s)
		results = append(results, res)
		return true
	})
	if len(results) == 0 {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no backend_jwt handler has api_manager")}
	}
	status := http.StatusOK
	for _, res := range results {
		if res.Error != "" {
			status = http.StatusBadGateway
		}
	}
	return writeJSON(w, status, map[string]any{"sources": results})
}

// apimCounts is what status and refresh tell of an API Manager source.
type apimCounts struct {
	Ready         bool    `json:"ready"`
	AgeSeconds    float64 `json:"age_seconds,omitempty"`
	APIs          int     `json:"apis"`
	Applications  int     `json:"applications"`
	KeyMappings   int     `json:"key_mappings"`
	Subscriptions int     `json:"subscriptions"`
	Revoked       int     `json:"revoked_tokens"`
	ReadErrors    int64   `json:"read_errors"`
}

func countsOf(s *apimSource) apimCounts {
	c := apimCounts{ReadErrors: s.store.ReadErrors()}
	if snap := s.store.Snapshot(); snap != nil {
		c.Ready = true
		c.AgeSeconds = time.Since(snap.ReadAt).Seconds()
		c.APIs, c.Applications, c.KeyMappings = snap.Counts.APIs, snap.Counts.Applications, snap.Counts.KeyMappings
		c.Subscriptions, c.Revoked = snap.Counts.Subscriptions, snap.Counts.Revoked
	}
	return c
}

// status describes every handler: no token, key or password.
func status() map[string]any {
	type handlerStatus struct {
		API             string `json:"api,omitempty"`
		Issuers         any    `json:"issuers"`
		APIManager      any    `json:"api_manager,omitempty"`
		ValidationCache int    `json:"validation_cache"`
		GenerationCache *int   `json:"generation_cache,omitempty"`
		ClaimsCache     *int   `json:"claims_cache,omitempty"`
	}
	var handlers []handlerStatus
	liveHandlers.Range(func(k, _ any) bool {
		h := k.(*Handler)
		var st handlerStatus
		if h.API != nil {
			st.API = h.API.Name + " " + h.API.Version
		}
		issuers, cached := h.validator.Status()
		for i := range issuers {
			issuers[i].JWKSURL = redactURL(issuers[i].JWKSURL)
			if in := issuers[i].Introspection; in != nil {
				in.URL = redactURL(in.URL)
			}
		}
		st.Issuers, st.ValidationCache = issuers, cached
		if h.apim != nil {
			c := countsOf(h.apim.src)
			st.APIManager = map[string]any{"source": h.apim.src.label, "data": c}
		}
		if h.generation != nil && h.generation.cache != nil {
			n := h.generation.cache.Len()
			st.GenerationCache = &n
		}
		if h.claims != nil {
			n := h.claims.cache.Len()
			st.ClaimsCache = &n
		}
		handlers = append(handlers, st)
		return true
	})
	slices.SortFunc(handlers, func(a, b handlerStatus) int { return strings.Compare(a.API, b.API) })
	return map[string]any{"handlers": handlers, "revocations": revocations.Len(), "revocations_unstored": revocations.Pending()}
}

// redactURL leaves out of a URL what may hold a secret: userinfo, query
// and fragment.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

func badRequest(err error) error { return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err} }

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// revocationSyncPool holds the one reader of the storage's revocations,
// while any handler is loaded.
var revocationSyncPool = caddy.NewUsagePool()

const revocationSyncKey = "backend_jwt.revocation_sync"

// revocationSyncer reads the revocations in storage, and writes those
// whose storage write failed, every revocation_sync.
type revocationSyncer struct {
	storage atomic.Pointer[storageRef] // of the newest running config
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// storageRef holds a certmagic.Storage, which atomic.Pointer cannot.
type storageRef struct{ certmagic.Storage }

// Destruct stops the syncer when the last handler is cleaned up.
func (s *revocationSyncer) Destruct() error {
	s.cancel()
	<-s.done
	return nil
}

// use makes the syncer read storage (that of a config that now runs) and
// sync at once.
func (s *revocationSyncer) use(storage certmagic.Storage) {
	if storage == nil {
		return
	}
	if old := s.storage.Swap(&storageRef{storage}); old != nil && old.Storage == storage {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// revocationSettings are the shortest revocation_sync and the longest
// clock_skew of the running handlers: an entry is kept until no handler
// would accept its token any more.
func revocationSettings() (every, skew time.Duration) {
	every = DefaultRevocationSync
	liveHandlers.Range(func(k, _ any) bool {
		h := k.(*Handler)
		every, skew = min(every, h.syncEvery), max(skew, h.skew)
		return true
	})
	if skew == 0 {
		skew = validator.DefaultClockSkew
	}
	return every, skew
}

func (s *revocationSyncer) run(ctx context.Context) {
	defer close(s.done)
	for {
		every, skew := revocationSettings()
		if ref := s.storage.Load(); ref != nil {
			if err := revocations.Sync(ctx, ref.Storage, time.Now(), skew); err != nil && ctx.Err() == nil {
				caddy.Log().Named("http.handlers.backend_jwt.revocations").Warn(
					"syncing the revocations with storage failed; the ones known stay in force", zap.Error(err))
			}
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// provisionRevocations checks revocation_sync and joins the handler to the
// process's revocation syncer, making it when it is the first handler. The
// syncer reads storage only once a config runs (revocationSyncer.use).
func (h *Handler) provisionRevocations() error {
	h.syncEvery = time.Duration(h.RevocationSync)
	if h.syncEvery == 0 {
		h.syncEvery = DefaultRevocationSync
	}
	if h.syncEvery < time.Second {
		return fmt.Errorf("revocation_sync %v: must be at least 1s", h.syncEvery)
	}
	pooled, _, err := revocationSyncPool.LoadOrNew(revocationSyncKey, func() (caddy.Destructor, error) {
		sctx, cancel := context.WithCancel(context.Background())
		s := &revocationSyncer{wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
		go s.run(sctx)
		return s, nil
	})
	if err != nil {
		return err
	}
	h.syncer = pooled.(*revocationSyncer)
	return nil
}

// storageOf is the config's storage; nil for a context made outside a
// config (a handler provisioned on its own, in unit tests), whose
// revocations then stay in memory.
func storageOf(ctx caddy.Context) (storage certmagic.Storage) {
	defer func() {
		if recover() != nil {
			storage = nil
		}
	}()
	return ctx.Storage()
}

// Interface guards
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
	_ caddy.Provisioner = (*AdminAPI)(nil)
)
