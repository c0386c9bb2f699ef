package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// Config is every setting of `deploytokens serve`. Each has a flag and a
// DEPLOYTOKENS_* variable; flags win over variables, variables over defaults.
type Config struct {
	Listen           string
	ExternalURL      string
	DataDir          string
	ReposDir         string
	RedisURL         string
	RedisPrefix      string
	RedisCacheSize   int
	StoreTimeout     time.Duration
	SecretFile       string
	AdminToken       string
	RegistryService  string
	RegistryIssuer   string
	RegistryHost     string
	RegistryURL      string
	TokenLifetime    time.Duration
	SigningAlg       string
	KidFormat        string
	X5C              bool
	SigningKeyFile   string
	RotationLead     time.Duration
	AuthMaxFailures  int
	AuthWindow       time.Duration
	AuthBan          time.Duration
	TrustedProxies   string
	LogFormat        string
	LogLevel         string
	ShutdownTimeout  time.Duration
	ReadTimeout      time.Duration
	IdleTimeout      time.Duration
	GitBin           string
	GitMaxConcurrent int
	// GitMaxInflatedBody bounds a gzip git request body once inflated,
	// in bytes.
	GitMaxInflatedBody int
	GitMaxAnonymous    int
	GitMaxPerClient    int
	GitStallTimeout    time.Duration
	MetricsListen      string
	MetricsPprof       bool
	// AllowTopLevelGroups lets every user create top-level groups.
	AllowTopLevelGroups bool
	// SigningMode is jwks (keys published for the registry's jwks or
	// rootcertbundle) or x5c (leaves under a root, sent in x5c).
	SigningMode string
	// KeyRotation is how often the x5c mode issues a new leaf; 0: never
	// on its own.
	KeyRotation time.Duration
	// RegistryMaxRepositories caps the distinct repositories one token
	// request with credentials may name; RegistryMaxAnonymousRepositories
	// one without.
	RegistryMaxRepositories          int
	RegistryMaxAnonymousRepositories int
	// TLSCert and TLSKey are PEM files; with both set the server
	// serves HTTPS.
	TLSCert string
	TLSKey  string
	// RotationMaxGrace bounds the grace a deploy token's or PAT's
	// rotation may give the secret it replaces.
	RotationMaxGrace time.Duration

	// authNow, when set (by tests), is the clock authentication decides
	// with, so a rotation's grace or a token's expiry ends without
	// sleeping; registry tokens are still stamped with the real time the
	// registry checks them against.
	authNow func() time.Time
	// AuditRetention is how long audit events are kept; 0: for ever.
	AuditRetention time.Duration
	// WebhookAllowPrivate lets webhooks reach loopback and private
	// addresses.
	WebhookAllowPrivate bool
	// WebhookBackoff is the wait after a delivery's first failure.
	WebhookBackoff time.Duration
	// WebhookMaxAttempts bounds a delivery's attempts.
	WebhookMaxAttempts int
	// WebhookClaimTimeout is how long a replica holds a delivery it
	// claimed before another may send it.
	WebhookClaimTimeout time.Duration
	// WebhookPollInterval is how often each replica reads the queue.
	WebhookPollInterval time.Duration
	// ExpiryScanInterval is how often each replica looks for deploy
	// tokens to warn of.
	ExpiryScanInterval time.Duration
	// clock, when set (by tests), is the service's clock.
	clock func() time.Time
	// OIDCIssuers is the comma-separated allow-list of OIDC issuers whose
	// tokens deploy tokens' federated identities may trust.
	OIDCIssuers string
	// OIDCMaxAge refuses OIDC tokens issued longer ago, whatever their exp.
	OIDCMaxAge time.Duration

	// Derived by Validate.
	externalURL    *url.URL
	registryURL    *url.URL
	trustedProxies []netip.Prefix
	oidcIssuers    []string
}

// setting describes one setting: its flag name, variable and help.
type setting struct {
	name, help string
	ptr        any
}

func (c *Config) settings() []setting {
	return []setting{
		{"listen", "address to listen on", &c.Listen},
		{"external-url", "URL clients reach this server at (clone URLs, token realm); default http://<listen>", &c.ExternalURL},
		{"data-dir", "directory for the embedded store, the server secret, keys and repositories", &c.DataDir},
		{"repos-dir", "directory of the git repositories; default <data-dir>/repositories", &c.ReposDir},
		{"redis-url", "redis:// or rediss:// URL (redis+sentinel://...?master_name=NAME for Sentinel, its password going to the sentinels only; redis+cluster:// for Cluster); unset: the embedded store", &c.RedisURL},
		{"redis-prefix", "prefix of every Redis key, so installations can share a Redis", &c.RedisPrefix},
		{"redis-cache-size", "deploy tokens each replica keeps in memory between uses (revocations still reach it within 0.5s); 0: none", &c.RedisCacheSize},
		{"store-timeout", "how long a request waits for any one answer of Redis; one that does not come by then is answered 503 with Retry-After, and so is readiness (which waits at most 2s)", &c.StoreTimeout},
		{"secret-file", "file holding the server secret (at least 32 bytes); default <data-dir>/secret, generated on first start", &c.SecretFile},
		{"admin-token", "personal access token of the admin user root; unset: generated on first start into <data-dir>/admin-token", &c.AdminToken},
		{"registry-service", "service name of the container registry (the token's aud)", &c.RegistryService},
		{"registry-issuer", "issuer (iss) of registry tokens; the registry's auth.token.issuer", &c.RegistryIssuer},
		{"registry-host", "host[:port] of the container registry, for CI_REGISTRY", &c.RegistryHost},
		{"registry-url", "URL the server reaches the registry's API at, to delete a deleted project's images (the registry must allow deletes); unset: a deleted project's path stays reserved until an admin releases it", &c.RegistryURL},
		{"token-lifetime", "lifetime of registry tokens", &c.TokenLifetime},
		{"registry-max-repositories", "distinct repositories one registry token request with credentials may name (1 to 64); more are refused 400", &c.RegistryMaxRepositories},
		{"registry-max-anonymous-repositories", "distinct repositories one registry token request without credentials may name (1 to --registry-max-repositories); more are refused 400", &c.RegistryMaxAnonymousRepositories},
		{"signing-alg", "signing algorithm of registry tokens: ES256, RS256 or EdDSA", &c.SigningAlg},
		{"kid-format", "key id form: thumbprint (RFC 7638) or libtrust (distribution 2.x, GitLab's registry)", &c.KidFormat},
		{"x5c", "send the signing certificate chain (x5c) in token headers", &c.X5C},
		{"signing-key-file", "PEM private key to sign with instead of generated keys", &c.SigningKeyFile},
		{"auth-max-failures", "failed authentications from one address that ban it", &c.AuthMaxFailures},
		{"auth-window", "window in which failures are counted", &c.AuthWindow},
		{"auth-ban", "how long a banned address stays banned", &c.AuthBan},
		{"trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For is believed", &c.TrustedProxies},
		{"log-format", "log format: text or json", &c.LogFormat},
		{"log-level", "log level: debug, info, warn or error", &c.LogLevel},
		{"rotation-lead", "how long keys rotate publishes a new signing key before it signs, to export it to the registry meanwhile", &c.RotationLead},
		{"shutdown-timeout", "how long SIGTERM waits for in-flight requests", &c.ShutdownTimeout},
		{"read-timeout", "how long a request's body may take to arrive (an authorized git push's is not bounded)", &c.ReadTimeout},
		{"idle-timeout", "how long an idle keep-alive connection stays open", &c.IdleTimeout},
		{"git", "git binary serving repositories (git http-backend)", &c.GitBin},
		{"git-max-concurrent", "git requests served at once (each runs git http-backend); more wait up to half the read timeout, then get 503", &c.GitMaxConcurrent},
		{"git-max-anonymous", "git requests without credentials (public projects) served at once, apart from --git-max-concurrent's; 0: a quarter of it", &c.GitMaxAnonymous},
		{"git-max-per-client", "git requests of one client address that may run or wait at once, in each of the two bounds; more get 429; 0: a quarter of each bound", &c.GitMaxPerClient},
		{"git-stall-timeout", "how long a git client may accept none of its answer before its git process is killed and its slot freed", &c.GitStallTimeout},
		{"git-max-inflated-body", "bytes a gzip git request body may inflate to; a larger one is answered 413", &c.GitMaxInflatedBody},
		{"metrics-listen", "address of a listener of its own serving Prometheus metrics at /metrics, unauthenticated; unset: none", &c.MetricsListen},
		{"metrics-pprof", "also serve the runtime's profiles (pprof) under /debug/pprof/ on the metrics listener", &c.MetricsPprof},
		{"signing-mode", "how the registry finds the signing key: jwks (every key exported to its jwks or rootcertbundle; a new key needs a registry restart) or x5c (a root certificate exported once to its rootcertbundle; leaf keys under it rotate with no registry change)", &c.SigningMode},
		{"key-rotation", "with --signing-mode x5c, how long a leaf key signs before a new one replaces it; 0: only keys rotate does", &c.KeyRotation},
		{"audit-retention", "how long audit events are kept before a background job deletes them; 0: for ever", &c.AuditRetention},
		{"webhook-allow-private", "let webhooks point at loopback, private and link-local addresses (refused otherwise, when saved and when dialed)", &c.WebhookAllowPrivate},
		{"webhook-backoff", "wait after a webhook delivery's first failure; each next wait is six times longer, up to 6h", &c.WebhookBackoff},
		{"webhook-max-attempts", "attempts of a webhook delivery before it is dropped (logged)", &c.WebhookMaxAttempts},
		{"webhook-claim-timeout", "how long a replica holds a webhook delivery it claimed; if it dies, another sends it after this (requests time out at half of it, 10s at most)", &c.WebhookClaimTimeout},
		{"webhook-poll-interval", "how often each replica reads the webhook delivery queue", &c.WebhookPollInterval},
		{"expiry-scan-interval", "how often each replica looks for deploy tokens 60, 30 or 7 days from expiry, or expired, to record and announce", &c.ExpiryScanInterval},
		{"allow-top-level-groups", "let every user create top-level groups (and so new top-level namespaces); false: only admins may", &c.AllowTopLevelGroups},
		{"tls-cert", "PEM certificate (chain) to serve HTTPS and HTTP/2 with; reloaded on SIGHUP or when the file changes; unset: plain HTTP (behind a TLS proxy)", &c.TLSCert},
		{"tls-key", "PEM private key of --tls-cert", &c.TLSKey},
		{"rotation-max-grace", "longest grace a token's rotation may give the secret it replaces (its grace parameter; default 24h)", &c.RotationMaxGrace},
		{"oidc-issuers", "comma-separated OIDC issuer URLs (exactly as their tokens' iss) whose tokens deploy tokens' federated identities may trust, for keyless CI and clusters; unset: none", &c.OIDCIssuers},
		{"oidc-max-age", "refuse OIDC tokens issued longer ago than this, whatever their exp", &c.OIDCMaxAge},
	}
}

// defaultConfig answers the defaults.
func defaultConfig() Config {
	return Config{
		Listen: "127.0.0.1:8080", DataDir: "./data", RedisPrefix: "deploytokens:", RedisCacheSize: 20000,
		RegistryService: "container_registry", RegistryIssuer: "deploytokens",
		TokenLifetime: 5 * time.Minute, SigningAlg: "ES256", KidFormat: "thumbprint",
		AuthMaxFailures: 30, AuthWindow: time.Minute, AuthBan: time.Hour,
		LogFormat: "text", LogLevel: "info", ShutdownTimeout: 30 * time.Second, GitBin: "git",
		ReadTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second,
		AllowTopLevelGroups: true,
		SigningMode:         "jwks", KeyRotation: 720 * time.Hour,
		RotationMaxGrace: 7 * 24 * time.Hour,
		AuditRetention:   365 * 24 * time.Hour, WebhookBackoff: 10 * time.Second, WebhookMaxAttempts: 8,
		WebhookClaimTimeout: 2 * time.Minute, WebhookPollInterval: 2 * time.Second, ExpiryScanInterval: time.Hour,
		OIDCMaxAge: 6 * time.Hour,
		// Far more than the cores can pack at once (clones over slow
		// links mostly wait on the network, and a wait past the read
		// timeout fails a CI job), yet a bound on processes and memory.
		GitMaxConcurrent:   32 * runtime.GOMAXPROCS(0),
		GitMaxInflatedBody: 10 << 20, // githttp.DefaultMaxInflatedBody
		GitStallTimeout:    20 * time.Second,
		StoreTimeout:       time.Second,
		// auth.DefaultMaxRepositories, auth.DefaultMaxAnonymousRepositories
		RegistryMaxRepositories:          16,
		RegistryMaxAnonymousRepositories: 4,
	}
}

func envName(flagName string) string {
	return "DEPLOYTOKENS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// bind registers every setting on fs with its built-in default. Variables
// are applied after parsing (applyEnv), so help and usage errors never print
// a value from the environment, such as the admin token.
func (c *Config) bind(fs *flag.FlagSet) {
	for _, s := range c.settings() {
		help := s.help + " (" + envName(s.name) + ")"
		switch p := s.ptr.(type) {
		case *string:
			fs.StringVar(p, s.name, *p, help)
		case *int:
			fs.IntVar(p, s.name, *p, help)
		case *bool:
			fs.BoolVar(p, s.name, *p, help)
		case *time.Duration:
			fs.DurationVar(p, s.name, *p, help)
		}
	}
}

// applyEnv sets every setting not given as a flag from its variable, so
// flags win over variables and variables over defaults.
func (c *Config) applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	for _, s := range c.settings() {
		env := getenv(envName(s.name))
		// Lookup: keys binds only the settings it reads.
		if given[s.name] || env == "" || fs.Lookup(s.name) == nil {
			continue
		}
		if err := fs.Set(s.name, env); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid %s", envName(s.name), redactIfSecret(s.name, env), kindOf(s.ptr)))
		}
	}
	return errors.Join(errs...)
}

func redactIfSecret(name, v string) string {
	if name == "admin-token" || name == "redis-url" {
		return "***"
	}
	return v
}

func kindOf(p any) string {
	switch p.(type) {
	case *int:
		return "integer"
	case *bool:
		return "boolean (true or false)"
	case *time.Duration:
		return "duration (like 5m)"
	}
	return "value"
}

// Validate checks every setting and reports every problem at once, each
// naming its setting; it fills the derived fields.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s (%s): %s", name, envName(name), fmt.Sprintf(format, args...)))
	}
	listenOK := false
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port", c.Listen)
	} else if !validPort(port) {
		bad("listen", "%q: the port must be a number from 0 to 65535", c.Listen)
	} else {
		listenOK = true
	}
	if c.ExternalURL == "" && !listenOK {
		// Derived from the listen address, which is reported above.
		c.ExternalURL = "http://localhost"
	}
	if c.ExternalURL == "" {
		host := c.Listen
		if h, p, err := net.SplitHostPort(c.Listen); err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
			host = net.JoinHostPort("localhost", p)
		}
		c.ExternalURL = "http://" + host
		if c.TLSCert != "" {
			c.ExternalURL = "https://" + host
		}
	}
	u, err := url.Parse(strings.TrimSuffix(c.ExternalURL, "/"))
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		bad("external-url", "%q is not an http(s) URL", c.ExternalURL)
	case u.User != nil:
		bad("external-url", "must not hold a user or password")
	case strings.ContainsAny(c.ExternalURL, " \t\r\n"):
		bad("external-url", "%q has white space in it", c.ExternalURL)
	case u.Port() != "" && !validPort(u.Port()):
		bad("external-url", "%q: the port must be a number from 0 to 65535", c.ExternalURL)
	default:
		c.externalURL = u
	}
	if c.DataDir == "" {
		bad("data-dir", "must not be empty")
	}
	if c.ReposDir == "" && c.DataDir != "" {
		c.ReposDir = filepath.Join(c.DataDir, "repositories")
	}
	if c.SecretFile == "" && c.DataDir != "" {
		c.SecretFile = filepath.Join(c.DataDir, "secret")
	}
	if c.RedisURL != "" {
		if err := redisstore.CheckURL(c.RedisURL); err != nil {
			bad("redis-url", "must be a redis://, rediss://, unix://, redis+sentinel:// or redis+cluster:// URL: %v", err)
		}
	}
	if strings.ContainsAny(c.RedisPrefix, " {}\r\n") {
		bad("redis-prefix", "must not contain spaces, braces or newlines")
	}
	if c.RedisCacheSize < 0 || c.RedisCacheSize > 1_000_000 {
		bad("redis-cache-size", "must be between 0 and 1000000")
	}
	if c.AdminToken != "" && len(c.AdminToken) < 20 {
		bad("admin-token", "must be at least 20 characters")
	}
	if c.RegistryService == "" || strings.ContainsAny(c.RegistryService, "\" \r\n") {
		bad("registry-service", "must be a non-empty name without spaces or quotes")
	}
	if c.RegistryIssuer == "" {
		bad("registry-issuer", "must not be empty")
	}
	if c.RegistryHost == "" && c.externalURL != nil {
		c.RegistryHost = c.externalURL.Host
	}
	if c.RegistryURL != "" {
		u, err := url.Parse(c.RegistryURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
			bad("registry-url", "%q is not an http(s) URL", c.RegistryURL)
		case u.User != nil:
			bad("registry-url", "must not hold a user or password")
		case strings.Trim(u.Path, "/") != "":
			bad("registry-url", "%q: the registry's API is at /v2/ of its root, so give no path", c.RegistryURL)
		default:
			c.registryURL = u
		}
	}
	if c.RotationMaxGrace < 0 || c.RotationMaxGrace > 365*24*time.Hour {
		bad("rotation-max-grace", "must be between 0 and 8760h (a year)")
	}
	if c.TokenLifetime < 10*time.Second || c.TokenLifetime > 24*time.Hour {
		bad("token-lifetime", "must be between 10s and 24h")
	}
	switch c.SigningAlg {
	case "ES256", "RS256", "EdDSA":
	default:
		bad("signing-alg", "%q is not ES256, RS256 or EdDSA", c.SigningAlg)
	}
	switch c.KidFormat {
	case "thumbprint", "libtrust":
	default:
		bad("kid-format", "%q is not thumbprint or libtrust", c.KidFormat)
	}
	if c.SigningKeyFile != "" {
		if _, err := os.Stat(c.SigningKeyFile); err != nil {
			bad("signing-key-file", "%v", err)
		}
	}
	if c.RegistryMaxRepositories < 1 || c.RegistryMaxRepositories > 64 {
		// A request's scopes past 64 are dropped unread (auth.ParseScopes).
		bad("registry-max-repositories", "must be between 1 and 64")
	}
	if c.RegistryMaxAnonymousRepositories < 1 || c.RegistryMaxAnonymousRepositories > max(1, min(c.RegistryMaxRepositories, 64)) {
		bad("registry-max-anonymous-repositories", "must be between 1 and --registry-max-repositories")
	}
	if c.AuthMaxFailures < 1 {
		bad("auth-max-failures", "must be at least 1")
	}
	if c.MetricsListen != "" {
		if _, port, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad("metrics-listen", "%q is not host:port", c.MetricsListen)
		} else if !validPort(port) {
			bad("metrics-listen", "%q: the port must be a number from 0 to 65535", c.MetricsListen)
		} else if c.MetricsListen == c.Listen && port != "0" {
			bad("metrics-listen", "must differ from --listen: metrics have a listener of their own")
		}
	} else if c.MetricsPprof {
		bad("metrics-pprof", "needs --metrics-listen, the listener it is served on")
	}
	if c.GitMaxConcurrent < 1 {
		bad("git-max-concurrent", "must be at least 1")
	}
	if c.GitMaxAnonymous < 0 {
		bad("git-max-anonymous", "must not be negative")
	}
	if c.GitMaxPerClient < 0 {
		bad("git-max-per-client", "must not be negative")
	}
	if c.StoreTimeout < 50*time.Millisecond || c.StoreTimeout > time.Minute {
		bad("store-timeout", "must be between 50ms and 1m")
	}
	if c.GitStallTimeout < time.Second {
		bad("git-stall-timeout", "must be at least 1s")
	}
	if c.GitMaxInflatedBody < 1<<10 {
		bad("git-max-inflated-body", "must be at least 1024 (bytes)")
	}
	if c.AuthWindow < time.Second {
		bad("auth-window", "must be at least 1s")
	}
	if c.AuthBan < time.Second {
		bad("auth-ban", "must be at least 1s")
	}
	c.trustedProxies = nil
	for p := range strings.SplitSeq(c.TrustedProxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			bad("trusted-proxies", "%q is not a CIDR", p)
			continue
		}
		c.trustedProxies = append(c.trustedProxies, pre)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-cert", "--tls-cert and --tls-key (DEPLOYTOKENS_TLS_KEY) go together: set both or neither")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log-format", "%q is not text or json", c.LogFormat)
	}
	if c.RotationLead < 0 {
		bad("rotation-lead", "must not be negative")
	}
	switch c.SigningMode {
	case "jwks":
	case "x5c":
		if c.SigningKeyFile != "" {
			bad("signing-mode", "x5c keeps its root and leaf keys in the store: unset --signing-key-file")
		}
		if c.RotationLead > 0 {
			bad("rotation-lead", "has no use with --signing-mode x5c: a new leaf key verifies at once")
		}
	default:
		bad("signing-mode", "%q is not jwks or x5c", c.SigningMode)
	}
	if c.KeyRotation < 0 || (c.KeyRotation > 0 && c.KeyRotation < time.Minute) {
		bad("key-rotation", "must be 0 (off) or at least 1m")
	}
	if c.AuditRetention < 0 || (c.AuditRetention > 0 && c.AuditRetention < time.Hour) {
		bad("audit-retention", "must be 0 (for ever) or at least 1h")
	}
	if c.WebhookMaxAttempts < 1 || c.WebhookMaxAttempts > 100 {
		bad("webhook-max-attempts", "must be from 1 to 100")
	}
	if c.WebhookClaimTimeout < time.Second {
		bad("webhook-claim-timeout", "must be at least 1s")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"webhook-backoff", c.WebhookBackoff}, {"webhook-poll-interval", c.WebhookPollInterval}, {"expiry-scan-interval", c.ExpiryScanInterval}} {
		if d.v < 10*time.Millisecond {
			bad(d.name, "must be at least 10ms")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"shutdown-timeout", c.ShutdownTimeout}, {"read-timeout", c.ReadTimeout}, {"idle-timeout", c.IdleTimeout}} {
		if d.v <= 0 {
			bad(d.name, "must be positive")
		}
	}
	c.validateOIDC(bad)
	return errors.Join(errs...)
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}
