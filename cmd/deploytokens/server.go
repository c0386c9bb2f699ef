package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/auth"
	"github.com/deploytokens/deploytokens/internal/api"
	"github.com/deploytokens/deploytokens/internal/githttp"
	"github.com/deploytokens/deploytokens/internal/httperr"
	"github.com/deploytokens/deploytokens/internal/httpreq"
	"github.com/deploytokens/deploytokens/internal/metrics"
	"github.com/deploytokens/deploytokens/internal/purge"
	"github.com/deploytokens/deploytokens/internal/web"
	"github.com/deploytokens/deploytokens/jwks"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
	"github.com/deploytokens/deploytokens/tokens/cache"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// app is one running deploytokens: its parts, wired.
type app struct {
	cfg     Config
	log     *slog.Logger
	store   tokens.Store
	keys    *tokens.Keys
	signer  *jwks.Manager
	service *tokens.Service
	authn   *auth.Authenticator
	echo    *echo.Echo
	// adminTokenFile is set when this start generated the admin token,
	// so the caller can say where it is.
	adminTokenFile string
	admin          *auth.AdminToken
	// metrics is nil unless a metrics listener is configured; then
	// metricsLn is that listener, open from newApp on.
	metrics   *metrics.Metrics
	metricsLn net.Listener
	// tlsConfig, when set, makes serve answer HTTPS (and HTTP/2).
	tlsConfig *tls.Config
}

// openStore opens Redis when configured (behind the replica cache when
// it is on), else the embedded store. hooks observe every round trip to
// Redis.
func openStore(ctx context.Context, cfg *Config, logger *slog.Logger, hooks ...redis.Hook) (tokens.Store, error) {
	if cfg.RedisURL != "" {
		s, err := redisstore.New(ctx, redisstore.Options{URL: cfg.RedisURL, Prefix: cfg.RedisPrefix, Hooks: hooks})
		if err != nil {
			return nil, err
		}
		if w, err := s.DurabilityWarning(ctx); err != nil {
			logger.Warn("could not read how Redis persists writes", "err", err)
		} else if w != "" {
			logger.Warn(w)
		}
		if cfg.RedisCacheSize > 0 {
			return cache.New(s, cache.Options{Size: cfg.RedisCacheSize, Logger: logger}), nil
		}
		return s, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	return boltstore.Open(filepath.Join(cfg.DataDir, "deploytokens.db"))
}

// newApp builds every part from cfg (already validated).
func newApp(ctx context.Context, cfg Config, logger *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: logger}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	var hooks []redis.Hook
	if cfg.MetricsListen != "" {
		a.metrics = metrics.New()
		hooks = append(hooks, a.metrics.RedisHook())
	}
	// Before anything is created: a busy port stops a first start with
	// no secret, store or admin token left behind.
	if err := a.listenMetrics(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	var err error
	if a.keys, err = openKeys(&cfg); err != nil {
		return nil, err
	}
	// Through a variable: a failed open answers a typed nil, which close
	// must not see as a store.
	store, err := openStore(ctx, &cfg, logger, hooks...)
	if err != nil {
		return nil, err
	}
	a.store = store
	if err := checkSecret(ctx, a.store, a.keys); err != nil {
		return nil, err
	}
	if a.signer, err = newSigner(ctx, &cfg, a.store, a.keys, logger); err != nil {
		return nil, err
	}
	repos := &githttp.Repos{Root: cfg.ReposDir, GitBin: cfg.GitBin}
	if err := os.MkdirAll(cfg.ReposDir, 0o700); err != nil {
		return nil, fmt.Errorf("--repos-dir: %w", err)
	}
	if err := repos.Check(ctx); errors.Is(err, githttp.ErrGit) {
		return nil, fmt.Errorf("--git (DEPLOYTOKENS_GIT): %w", err)
	} else if err != nil {
		return nil, fmt.Errorf("--repos-dir: %w", err)
	}
	// An hour: far longer than any create or removal takes, so what is
	// younger may be another replica's, sharing the directory, at work.
	if n, err := repos.Sweep(time.Hour); err != nil {
		logger.Warn("could not sweep what crashes left in the repositories directory", "dir", cfg.ReposDir, "removed", n, "err", err)
	} else if n > 0 {
		logger.Info("removed what crashes left in the repositories directory", "dir", cfg.ReposDir, "removed", n)
	}
	a.service = &tokens.Service{Store: a.store, Keys: a.keys, Repos: repos, Logger: logger, NoTopLevelGroups: !cfg.AllowTopLevelGroups,
		OIDCIssuers: cfg.oidcIssuers}
	a.service.RotationMaxGrace = cfg.RotationMaxGrace
	a.service.AllowPrivateHooks, a.service.Now = cfg.WebhookAllowPrivate, cfg.clock
	if u := cfg.registryURL; u != nil {
		a.service.Images = &purge.Registry{URL: u, Signer: a.signer, Service: cfg.RegistryService, Issuer: cfg.RegistryIssuer, Lifetime: cfg.TokenLifetime}
		// A deleted project's path waits for the tokens issued before.
		a.service.RegistryTokenLifetime = cfg.TokenLifetime
	}
	if err := a.bootstrapAdmin(ctx); err != nil {
		return nil, err
	}
	// Before serving: a namespace left without its group would be anyone's
	// to create, and its creator would inherit the projects below.
	if n, err := a.service.MigrateNamespaces(ctx); err != nil {
		return nil, fmt.Errorf("move projects into groups: %w", err)
	} else if n > 0 {
		logger.Info("moved projects stored before groups into groups", "projects", n)
	}
	limiter := &auth.Limiter{KV: a.store, Max: int64(cfg.AuthMaxFailures), Window: cfg.AuthWindow, Ban: cfg.AuthBan, Logger: logger}
	limiter.OnBan = a.service.RecordBan
	if m := a.metrics; m != nil {
		limiter.Failures, limiter.Bans = m.AuthFailures, m.AuthBans
		if c, ok := a.store.(cacheStats); ok && cfg.RedisCacheSize > 0 {
			m.CacheStats(c.Stats)
		}
	}
	a.authn = &auth.Authenticator{Store: a.store, Keys: a.keys, Logger: logger, Limiter: limiter, Admin: a.admin}
	a.authn.Now = cfg.authNow
	if len(cfg.oidcIssuers) > 0 {
		a.authn.Federation = &auth.Federation{Issuers: cfg.oidcIssuers, MaxAge: cfg.OIDCMaxAge}
		a.authn.OnExchange = a.service.EmitOIDCExchange
	}
	a.echo = a.routes(repos)
	ok = true
	return a, nil
}

// newSigner opens the registry token signing keys, kept in the store and
// sealed with the server secret.
func newSigner(ctx context.Context, cfg *Config, store tokens.Store, keys *tokens.Keys, logger *slog.Logger) (*jwks.Manager, error) {
	jc := jwks.Config{
		Alg: cfg.SigningAlg, KidFormat: cfg.KidFormat, X5C: cfg.X5C,
		Sealer: keys, MaxTokenLifetime: cfg.TokenLifetime, RotationLead: cfg.RotationLead, Logger: logger,
	}
	if cfg.SigningMode == jwks.ModeX5C {
		// A schedule in jwks mode would fail pulls until the registry is
		// restarted, so --key-rotation counts in x5c mode only.
		jc.Mode, jc.KeyRotation = jwks.ModeX5C, cfg.KeyRotation
	}
	if cfg.SigningKeyFile != "" {
		// The operator's key, the same file on every replica; none is
		// generated or kept in the store.
		jc.KeyFile = cfg.SigningKeyFile
	} else {
		jc.Store, jc.IsNotFound = store, func(err error) bool { return errors.Is(err, tokens.ErrNotFound) }
	}
	m, err := jwks.New(ctx, jc)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return m, nil
}

// openKeys reads (or on first start creates) the server secret and
// derives the keys from it.
func openKeys(cfg *Config) (*tokens.Keys, error) {
	secret, err := loadOrCreateSecret(cfg.SecretFile, cfg.SecretFile == filepath.Join(cfg.DataDir, "secret"))
	if err != nil {
		return nil, err
	}
	keys, err := tokens.NewKeys(secret)
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	return keys, nil
}

// loadOrCreateSecret reads the server secret, generating it (0600) on
// first start when it lives at its default place in the data dir.
func loadOrCreateSecret(path string, mayCreate bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && mayCreate {
		var raw [32]byte
		rand.Read(raw[:])
		b = []byte(hex.EncodeToString(raw[:]))
		if err := writeNew(path, append(b, '\n')); err != nil {
			if errors.Is(err, os.ErrExist) {
				return loadOrCreateSecret(path, false)
			}
			return nil, fmt.Errorf("--secret-file: %w", err)
		}
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--secret-file (DEPLOYTOKENS_SECRET_FILE): %w", err)
	}
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) < tokens.MinServerSecretLen {
		return nil, fmt.Errorf("--secret-file (DEPLOYTOKENS_SECRET_FILE): %s holds %d bytes, at least %d are needed", path, len(b), tokens.MinServerSecretLen)
	}
	return b, nil
}

// writeNew creates path with mode 0600 and data, durably; it fails when
// path exists.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const secretCheckKey = tokens.SecretCheckKey

// checkSecret refuses to run against a store created with another server
// secret: every digest would miss and every token would look wrong.
func checkSecret(ctx context.Context, s tokens.Store, k *tokens.Keys) error {
	err := s.Create(ctx, secretCheckKey, []byte(k.Check()), 0)
	if err == nil {
		return nil
	}
	if !errors.Is(err, tokens.ErrConflict) {
		return fmt.Errorf("store: %w", err)
	}
	have, err := s.Get(ctx, secretCheckKey)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if string(have) != k.Check() {
		return errors.New("--secret-file (DEPLOYTOKENS_SECRET_FILE): this server secret differs from the one the store was created with; replicas sharing a store must share one secret file")
	}
	return nil
}

// bootstrapAdmin makes sure the admin user root exists and reads the admin
// token (configured, or generated once into the data dir). The token is
// configuration, never stored, so a new one replaces the old at once.
func (a *app) bootstrapAdmin(ctx context.Context) error {
	root, err := a.store.UserByUsername(ctx, "root")
	if errors.Is(err, tokens.ErrNotFound) {
		root = tokens.User{Username: "root", Name: "Administrator", Admin: true, CreatedAt: time.Now().UTC()}
		err = a.store.CreateUser(ctx, &root)
		if errors.Is(err, tokens.ErrConflict) {
			root, err = a.store.UserByUsername(ctx, "root")
		}
	}
	if err != nil {
		return fmt.Errorf("admin user: %w", err)
	}
	token := a.cfg.AdminToken
	if token == "" {
		path := filepath.Join(a.cfg.DataDir, "admin-token")
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			token = strings.TrimSpace(string(b))
			if len(token) < 20 {
				// As for DEPLOYTOKENS_ADMIN_TOKEN: an empty or short file
				// would leave root without a usable or safe token.
				return fmt.Errorf("admin token: %s holds %d characters, at least 20 are needed (delete it to have one generated)", path, len(token))
			}
		case errors.Is(err, os.ErrNotExist):
			s, err := tokens.Generate(tokens.PATSecret)
			if err != nil {
				return err
			}
			if err := writeNew(path, []byte(s.Reveal()+"\n")); err != nil {
				return fmt.Errorf("admin token: %w", err)
			}
			token, a.adminTokenFile = s.Reveal(), path
		default:
			return fmt.Errorf("admin token: %w", err)
		}
	}
	a.admin = &auth.AdminToken{Digest: a.keys.Digest(token), User: root}
	return nil
}

// clientAddr answers the address failures are counted against.
func (a *app) clientAddr(r *http.Request) string {
	return a.echo.IPExtractor(r)
}

func (a *app) routes(repos *githttp.Repos) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	if len(a.cfg.trustedProxies) > 0 {
		// Only the configured proxies: echo would otherwise also trust any
		// loopback, link-local or private address to set X-Forwarded-For.
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, p := range a.cfg.trustedProxies {
			_, n, _ := net.ParseCIDR(p.String())
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}
	// Each route declares its surface, the format its errors are written
	// in; what fails before a route's own middleware runs is written as
	// the API writes it.
	e.HTTPErrorHandler = a.errorHandler
	jsonSurface := []echo.MiddlewareFunc{httperr.Surface(api.WriteError, a.log), httpreq.CheckQuery}
	registrySurface := []echo.MiddlewareFunc{httperr.Surface(auth.WriteRegistry, a.log), httpreq.CheckQuery}
	if a.metrics != nil {
		// First: it reads the status the error handler wrote, panics
		// included.
		e.Use(a.metrics.Middleware())
	}
	e.Use(sanitizeRequestID, middleware.RequestID())
	e.Use(a.storeBudget)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		a.log.Error("panic", "err", err, "path", c.Path(), "stack", string(stack))
		return err
	}}))
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogMethod: true, LogURIPath: true, LogLatency: true, LogRequestID: true, LogRemoteIP: true, LogError: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			// The path only: query strings may carry refresh tokens.
			attrs := []any{"method", v.Method, "path", httperr.TruncatePath(v.URIPath), "status", v.Status, "latency", v.Latency, "request_id", v.RequestID, "remote_ip", v.RemoteIP}
			if v.Error != nil && v.Status >= 500 {
				attrs = append(attrs, "err", v.Error)
			}
			a.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", toAttrs(attrs)...)
			return nil
		},
	}))
	// HEAD as well as GET, for load balancers' health checks.
	getHead := []string{http.MethodGet, http.MethodHead}
	e.Match(getHead, "/-/health", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") }, jsonSurface...)
	e.Match(getHead, "/-/readiness", func(c echo.Context) error {
		wait := a.readinessTimeout()
		ctx, cancel := context.WithTimeout(c.Request().Context(), wait)
		defer cancel()
		if err := a.store.Ping(ctx); err != nil {
			// Its own body, which load balancers read; the pipeline's
			// status and Retry-After.
			p := httperr.Classify(tokens.ErrUnavailable)
			p.SetHeaders(c.Response().Header())
			return c.JSON(p.Status, map[string]string{"status": "unavailable", "message": "store unreachable or no answer within " + wait.String()})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}, jsonSurface...)
	e.Match(getHead, "/-/jwks", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/json", a.signer.JWKS())
	}, jsonSurface...)
	// The same keys as certificates, for a registry configured with
	// rootcertbundle (keys cert --from).
	e.Match(getHead, "/-/certs.pem", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/x-pem-file", a.signer.CertificatesPEM())
	}, jsonSurface...)

	apiHandlers := &api.API{Service: a.service, Auth: a.authn, ExternalURL: a.cfg.externalURL, RegistryHost: a.cfg.RegistryHost,
		SigningKeys: a.signer}
	apiHandlers.Register(e.Group("/api/v4", jsonSurface...))

	tokenService := &auth.TokenService{
		Auth: a.authn, Service: a.service, Signer: a.signer, Name: a.cfg.RegistryService,
		Issuer: a.cfg.RegistryIssuer, Lifetime: a.cfg.TokenLifetime, ClientAddr: a.clientAddr,
		MaxRepositories: a.cfg.RegistryMaxRepositories, MaxAnonymousRepositories: a.cfg.RegistryMaxAnonymousRepositories,
	}
	backends := &githttp.Backends{}
	if m := a.metrics; m != nil {
		tokenService.Signer, tokenService.RefreshTokens = m.CountTokens(a.signer), m.RefreshTokens
		m.GitBackends(backends.Busy, backends.Waiting, a.cfg.GitMaxConcurrent)
	}
	tokenService.Register(e, registrySurface...)

	gitAuth := &auth.GitAuthorizer{Auth: a.authn, Service: a.service, ClientAddr: a.clientAddr}
	git := githttp.NewHandler(githttp.Config{
		// Half the read timeout: a fetch's body deadline runs from the
		// request's start, so the wait must leave it time to arrive.
		Repos: repos, MaxBackends: a.cfg.GitMaxConcurrent, QueueWait: a.cfg.ReadTimeout / 2, Backends: backends,
		MaxAnonymousBackends: a.cfg.GitMaxAnonymous, MaxPerClient: a.cfg.GitMaxPerClient, ClientAddr: a.clientAddr,
		StallTimeout: a.cfg.GitStallTimeout, MaxInflatedBody: int64(a.cfg.GitMaxInflatedBody),
		Authorize: func(r *http.Request, path string, op githttp.Op) (string, error) {
			return gitAuth.Authorize(r, path, op == githttp.OpPush)
		},
		OnError: func(w http.ResponseWriter, r *http.Request, err error) {
			p := httperr.Classify(err)
			httperr.Log(r.Context(), a.log, r, err, p)
			githttp.WriteError(w, p)
		},
		Logger: a.log,
	})
	pages := &web.Handler{Service: a.service, Auth: a.authn, Limiter: a.authn.Limiter,
		ExternalURL: a.cfg.externalURL, RegistryHost: a.cfg.RegistryHost, Logger: a.log}
	e.Any("/*", func(c echo.Context) error {
		if _, route, ok := githttp.ParsePath(c.Request().URL.Path); ok {
			metrics.SetRoute(c, "/:project.git/"+route) // one of three, not the path
			git.ServeHTTP(c.Response(), c.Request())
			return nil
		}
		if err := api.NotAllowed(c); err != nil {
			return err // /-/health, /-/jwks and the like, asked with another method
		}
		// Everything else is a web page, or the web's own 404 page.
		return pages.Serve(c)
	}, jsonSurface...)
	return e
}

// purgeRetryInterval is how often each replica retries deleting the
// images the registry could not delete at once.
const purgeRetryInterval = 30 * time.Second

// handler is the router behind what must happen before routing, as plain
// net/http: echo's Pre middlewares would cost allocations on every token
// request.
//   - A read deadline bounds how long a request's body may take to arrive,
//     and what is left of it to be drained after the answer: a client that
//     declares a body and never sends it is cut off instead of holding the
//     connection. net/http lifts it once the body is read to its end; the
//     git handler lifts it once a push is authorized, since its pack
//     may take longer. A request without a body gets none: net/http is
//     already waiting on its connection, and a deadline there would cancel
//     a slow answer (and the connection's later requests).
//   - An API path with one trailing slash routes as the path without it, as
//     in GitLab (its docs post to ".../deploy_tokens/"). By hand because
//     echo's RemoveTrailingSlash leaves URL.RawPath, which echo routes by,
//     so "tanuki%2Fapp/.../" would not match.
func (a *app) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			deadline := time.Now().Add(a.cfg.ReadTimeout)
			if d, ok := w.(interface{ SetReadDeadline(time.Time) error }); ok {
				_ = d.SetReadDeadline(deadline)
			} else {
				_ = http.NewResponseController(w).SetReadDeadline(deadline)
			}
		}
		if u := r.URL; strings.HasPrefix(u.Path, "/api/v4/") && len(u.Path) > len("/api/v4/") && strings.HasSuffix(u.Path, "/") {
			u.Path = strings.TrimSuffix(u.Path, "/")
			u.RawPath = strings.TrimSuffix(u.RawPath, "/")
		}
		a.echo.ServeHTTP(w, r)
	})
}

// sanitizeRequestID keeps a client's X-Request-Id as Rails (and so GitLab)
// does: its letters, digits, '_', '-' and '@', at most 255 of them. One with
// none left is dropped, and middleware.RequestID makes one up. The ID is
// echoed in the answer and written to every log line of the request, so a
// client must not choose what those hold.
func sanitizeRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); id != "" && (len(id) > maxRequestIDLen || strings.IndexFunc(id, notRequestIDRune) >= 0) {
			kept := strings.Map(func(r rune) rune {
				if notRequestIDRune(r) {
					return -1
				}
				return r
			}, id)
			if kept == "" {
				h.Del(echo.HeaderXRequestID)
			} else {
				h.Set(echo.HeaderXRequestID, kept[:min(len(kept), maxRequestIDLen)])
			}
		}
		return next(c)
	}
}

// notRequestIDRune reports whether r is not one of the letters, digits,
// '_', '-' and '@' a request ID keeps.
func notRequestIDRune(r rune) bool {
	return !(r == '_' || r == '-' || r == '@' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
}

const maxRequestIDLen = 255

func toAttrs(kv []any) []slog.Attr {
	out := make([]slog.Attr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, slog.Any(kv[i].(string), kv[i+1]))
	}
	return out
}

// errorHandler writes what no route's surface wrote: errors of the
// middleware that runs before a route's own (none today but a panic's
// in the request log), as the API writes them.
func (a *app) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := httperr.Classify(err)
	httperr.Log(c.Request().Context(), a.log, c.Request(), err, p)
	api.WriteError(c, err, p)
}

// serve runs the server on ln until ctx ends, then drains in-flight
// requests for up to the shutdown timeout.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: a.cfg.IdleTimeout,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() {
		if a.tlsConfig != nil {
			srv.TLSConfig = a.tlsConfig
			errc <- srv.ServeTLS(ln, "", "") // the certificate is GetCertificate's
			return
		}
		errc <- srv.Serve(ln)
	}()
	// Metrics stay served while requests drain, and stop after.
	stopMetrics := a.serveMetrics()
	defer stopMetrics()
	// Picks up key rotations made by other replicas.
	go a.signer.Run(ctx)
	// Each replica sends webhooks, scans for expiring deploy tokens and
	// sweeps old audit events; the store keeps each delivery and event
	// single.
	go a.webhooks().Run(ctx)
	go a.service.RunExpiryScan(ctx, a.cfg.ExpiryScanInterval)
	go a.service.RunAuditSweep(ctx, a.cfg.AuditRetention, time.Hour)
	if a.service.Images != nil {
		// Deletes the images of deleted projects that the registry could
		// not delete while their owner waited.
		go a.service.RunPurges(ctx, purgeRetryInterval)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down: draining in-flight requests", "timeout", a.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		a.log.Warn("shutdown timeout reached: closing the requests still running", "timeout", a.cfg.ShutdownTimeout)
		err = srv.Close()
	}
	stopMetrics()
	// The last uses coalesced in memory (auth/touch.go), before the store
	// closes: a clean stop loses none.
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	if ferr := a.authn.FlushLastUses(fctx); ferr != nil {
		a.log.Warn("could not write the last uses of credentials at shutdown", "err", ferr)
	}
	fcancel()
	if cerr := a.close(); err == nil {
		err = cerr
	}
	return err
}

func (a *app) close() error {
	if a.metricsLn != nil {
		a.metricsLn.Close() // once serve stopped metrics, already closed
	}
	if a.store == nil { // newApp failed before opening it
		return nil
	}
	return a.store.Close()
}
