package metrics

import (
	"net/http"
	"net/http/pprof"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deploytokens/deploytokens/internal/version"
)

// namespace starts the name of every metric of the server's own.
const namespace = "deploytokens"

// Metrics is every collector of one server, registered on Registry.
type Metrics struct {
	// Registry holds the server's metrics and the Go runtime's and
	// process's; Handler serves it.
	Registry *prometheus.Registry

	// RefreshTokens counts the refresh tokens issued.
	RefreshTokens prometheus.Counter
	// AuthFailures counts failed authentications (a wrong or dead
	// credential, from any surface), AuthBans the client addresses banned
	// for too many of them.
	AuthFailures, AuthBans prometheus.Counter

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	requestSeries sync.Map // requestKey -> *requestSeries

	tokens *prometheus.CounterVec

	storeTrips, storeErrors *prometheus.CounterVec
	storeSeries             sync.Map // command name -> *storeSeries
}

// New answers the metrics of one server, registered on a new registry
// with the Go runtime's, the process's and the build's.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		RefreshTokens: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "refresh_tokens_issued_total",
			Help: "Refresh tokens issued by the registry token endpoint (offline_token or access_type=offline).",
		}),
		AuthFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "auth_failures_total",
			Help: "Failed authentications: a wrong, revoked or expired credential, on any surface.",
		}),
		AuthBans: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "auth_bans_total",
			Help: "Client addresses banned for too many failed authentications.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by method, route template and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help: "Time from routing to the end of the answer, by method, route template and status code.",
			// From a cached token request (well under a millisecond) to a
			// clone of a large repository.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method", "route", "code"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "registry_tokens_issued_total",
			Help: "Registry tokens (JWTs) signed, by signing algorithm.",
		}, []string{"alg"}),
		storeTrips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "store_round_trips_total",
			Help: "Round trips to Redis, by command (pipeline and multi for a pipeline or transaction sent at once).",
		}, []string{"command"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "store_errors_total",
			Help: "Round trips to Redis that failed (a missing key is no failure), by command.",
		}, []string{"command"}),
	}
	// Every algorithm the server signs with starts at zero, so a rate
	// over it exists before the first token.
	for _, alg := range algs {
		m.tokens.WithLabelValues(alg)
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		buildInfo(),
		m.RefreshTokens, m.AuthFailures, m.AuthBans,
		m.requests, m.duration, m.tokens, m.storeTrips, m.storeErrors,
	)
	return m
}

// buildInfo is deploytokens_build_info: 1, labelled with the module's
// version, the VCS revision and the Go version the binary was built with.
func buildInfo() prometheus.Collector {
	// "dev" for a work tree's build, as /api/v4/version says.
	v := version.Get()
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels tell which build of deploytokens runs.",
		ConstLabels: prometheus.Labels{"version": v.Version, "revision": v.Revision, "goversion": v.GoVersion},
	}, func() float64 { return 1 })
}

// CacheStats exposes the hits and misses of the store's deploy token cache,
// as stats answers them, as deploytokens_cache_hits_total and
// deploytokens_cache_misses_total.
func (m *Metrics) CacheStats(stats func() (hits, misses uint64)) {
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_hits_total",
			Help: "Deploy token lookups the in-memory cache answered.",
		}, func() float64 { h, _ := stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_misses_total",
			Help: "Deploy token lookups the in-memory cache could not answer, which went to the store.",
		}, func() float64 { _, mi := stats(); return float64(mi) }),
	)
}

// GitBackends exposes how many git http-backend processes run (busy) and
// how many requests wait for one, out of at most max at once.
func (m *Metrics) GitBackends(busy, waiting func() int64, max int) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "git_backends_busy",
			Help: "git http-backend processes running now.",
		}, func() float64 { return float64(busy()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "git_backends_waiting",
			Help: "Git requests waiting for a backend now.",
		}, func() float64 { return float64(waiting()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "git_backends_max",
			Help: "git http-backend processes allowed at once (--git-max-concurrent).",
		}, func() float64 { return float64(max) }),
	)
}

// Handler serves /metrics in the Prometheus text format
// and, with withPprof, the runtime's profiles under /debug/pprof/.
// Everything else is 404.
func (m *Metrics) Handler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	if withPprof {
		// By hand: net/http/pprof's own registration is on
		// http.DefaultServeMux, which nothing serves.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
