package caddymodule

import (
	"errors"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the handler's collectors, made once per process (Caddy's
// registry outlives no config, the collectors outlive every config) and
// registered with each config's registry in Provision.
var metrics = struct {
	once              sync.Once
	requests          *prometheus.CounterVec
	cache             *prometheus.CounterVec
	jwksFetches       *prometheus.CounterVec
	introspections    *prometheus.CounterVec
	generation        prometheus.Histogram
	claimsRetrieval   prometheus.Histogram
	claimsErrors      prometheus.Counter
	collectorsInOrder []prometheus.Collector
}{}

func initMetrics() {
	metrics.once.Do(func() {
		const ns, sub = "caddy", "backend_jwt"
		metrics.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Requests handled, by outcome: ok, or the WSO2 fault code of the refusal.",
		}, []string{"outcome"})
		metrics.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cache_lookups_total",
			Help: "Lookups in the validated-token, generated-token and claims caches, by cache and result (hit or miss).",
		}, []string{"cache", "result"})
		metrics.jwksFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "jwks_fetches_total",
			Help: "JWKS fetches, by issuer and result (ok or error).",
		}, []string{"issuer", "result"})
		metrics.introspections = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "introspection_calls_total",
			Help: "Calls to introspection endpoints, by issuer and outcome (active, inactive, invalid or error); answers served from the cache count as validation cache hits.",
		}, []string{"issuer", "outcome"})
		metrics.generation = prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "generation_seconds",
			Help:    "Time to generate and sign one backend JWT.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05},
		})
		metrics.claimsRetrieval = prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "claims_retrieval_seconds",
			Help:    "Time to retrieve a user's claims from the claims retriever (cache misses).",
			Buckets: prometheus.DefBuckets,
		})
		metrics.claimsErrors = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "claims_retrieval_errors_total",
			Help: "Claims retrievals that failed.",
		})
		metrics.collectorsInOrder = []prometheus.Collector{metrics.requests, metrics.cache, metrics.jwksFetches,
			metrics.introspections, metrics.generation, metrics.claimsRetrieval, metrics.claimsErrors, apimCollector{}}
	})
}

// registerMetrics registers the collectors with a config's registry; a
// collector already registered (another handler of the same config) is fine.
func registerMetrics(registry *prometheus.Registry) error {
	initMetrics()
	for _, c := range metrics.collectorsInOrder {
		if err := registry.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// handlerMetrics holds the counters a handler touches per request, with
// their labels resolved once.
type handlerMetrics struct {
	ok                            prometheus.Counter
	byCode                        map[int]prometheus.Counter
	validationHit, validationMiss prometheus.Counter
	generationHit, generationMiss prometheus.Counter
	claimsHit, claimsMiss         prometheus.Counter
}

func newHandlerMetrics() *handlerMetrics {
	initMetrics()
	m := &handlerMetrics{
		ok:             metrics.requests.WithLabelValues("ok"),
		byCode:         make(map[int]prometheus.Counter),
		validationHit:  metrics.cache.WithLabelValues("validation", "hit"),
		validationMiss: metrics.cache.WithLabelValues("validation", "miss"),
		generationHit:  metrics.cache.WithLabelValues("generation", "hit"),
		generationMiss: metrics.cache.WithLabelValues("generation", "miss"),
		claimsHit:      metrics.cache.WithLabelValues("claims", "hit"),
		claimsMiss:     metrics.cache.WithLabelValues("claims", "miss"),
	}
	for _, f := range []*fault{faultMissing, faultInvalid, faultExpired, faultForbidden, faultScope, faultBlocked, faultInactive, faultGeneration, faultUnavailable} {
		m.byCode[f.code] = metrics.requests.WithLabelValues(strconv.Itoa(f.code))
	}
	return m
}

// hitOrMiss counts one cache lookup.
func hitOrMiss(hit bool, hitC, missC prometheus.Counter) {
	if hit {
		hitC.Inc()
	} else {
		missC.Inc()
	}
}
