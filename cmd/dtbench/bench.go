package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

const (
	registryService = "container_registry"
	storeRedis      = "redis"
	storeEmbed      = "embedded"
	scenGET         = "GET /jwt/auth"
	scenPOST        = "POST /jwt/auth"
	scenGitAuth     = "git info/refs, authorization only"
	scenCeiling     = "ceiling: bare echo, fixed answer"
	scenBound       = "bound: bare echo, one signature"
	// rotate is how many of the stored tokens (all, when fewer are
	// stored) the requests rotate over, spread evenly over them.
	rotate = 10_000
	// warmup precedes each window; it lasts until every rotated token was
	// used once, at most four times as long.
	warmup      = 3 * time.Second
	maxRequests = 5_000_000 // in any window
	// ceilingWindow is how long the ceiling is measured on either side of
	// each row, so the row's share of it compares the two at the same
	// speed of the machine (a shared virtual machine's speed drifts by 10%
	// and more over minutes).
	ceilingWindow = 3 * time.Second
)

// scenarios are measured with ES256 for every store and number of tokens;
// GET also with otherAlgs, once (on Redis with the first number of
// tokens): the signature depends on neither.
var (
	scenarios = []struct {
		name string
		req  func(host string, c cred) request
	}{
		{scenGET, func(host string, c cred) request { return tokenGET(host, registryService, c) }},
		{scenPOST, func(host string, c cred) request { return tokenPOST(host, registryService, c) }},
		{scenGitAuth, gitAuthOnly},
	}
	otherAlgs = []string{"RS256", "EdDSA"}
)

// row is one measured window.
type row struct {
	store, scenario, alg string
	tokens               int
	res                  loadResult
	// roundTrips (to Redis) and allocs are the server's per request, from
	// its /metrics; negative when not measured.
	roundTrips, allocs float64
	serverCPU          time.Duration
	// ceiling is the mean req/s of the ceiling windows on either side of
	// the row; a ceiling row's own.
	ceiling float64
}

type bench struct {
	cfg         *config
	out         io.Writer
	tmp, bin    string
	secret      string
	keys        *tokens.Keys
	machine     machineInfo
	own, rows   []row  // dtbench's own servers' (the ceiling, the bound), and ours
	creds       []cred // of the tokens the current dataset's requests rotate over
	ceilingReqs []request
	// refusalTable is measureRefusals' table, "" until it ran.
	refusalTable string
	// running children, stopped by close whatever happens.
	ceiling, redis, server *child
}

func newBench(cfg *config, out io.Writer) (*bench, error) {
	tmp, err := os.MkdirTemp("", "dtbench-")
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, out: out, tmp: tmp, secret: rand.Text() + rand.Text()}
	b.keys, err = tokens.NewKeys([]byte(b.secret))
	return b, err
}

func (b *bench) close() {
	b.server.stop()
	b.ceiling.stop()
	b.redis.stop()
	os.RemoveAll(b.tmp)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) logRow(r *row) {
	b.logf("%-8s %7s  %-33s %-5s %6.0f req/s  %5.1f%% of ceiling  p99 %-8s errors %d", cmpStr(r.store, "—"),
		ours(r, true, strconv.Itoa(r.tokens)), r.scenario, r.alg, r.res.rps(), 100*r.res.rps()/r.ceiling, fmtDuration(r.res.quantile(.99)), r.res.errors)
	if r.res.errors > 0 {
		b.logf("  first error: %s", r.res.firstErr)
	}
}

func (b *bench) run(ctx context.Context) error {
	b.machine = readMachine(ctx)
	b.bin = filepath.Join(b.tmp, "deploytokens")
	b.logf("building the server")
	if err := buildServer(ctx, b.bin); err != nil {
		return err
	}
	if b.cfg.refusals > 0 {
		if err := b.measureRefusals(ctx); err != nil {
			return fmt.Errorf("refusals: %w", err)
		}
	}
	if b.cfg.refusalsOnly {
		return nil
	}
	type dataset struct {
		store string
		n     int
		alg   string
	}
	var sets []dataset
	for _, store := range b.cfg.stores {
		for i, n := range b.cfg.ns {
			sets = append(sets, dataset{store, n, "ES256"})
			if store == storeRedis && i == 0 {
				for _, alg := range otherAlgs {
					sets = append(sets, dataset{store, n, alg})
				}
			}
		}
	}
	for _, d := range sets {
		if err := b.dataset(ctx, d.store, d.n, d.alg); err != nil {
			return fmt.Errorf("%s, %d tokens, %s: %w", d.store, d.n, d.alg, err)
		}
		if b.own == nil {
			if err := b.measureOwn(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// dataset loads n tokens into a fresh store, starts the server on it
// signing with alg, and measures the scenarios (GET only, but for ES256).
func (b *bench) dataset(ctx context.Context, store string, n int, alg string) error {
	dir, err := os.MkdirTemp(b.tmp, store+"-"+strconv.Itoa(n)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dataDir, secretFile := filepath.Join(dir, "data"), filepath.Join(dir, "secret")
	if err := errors.Join(os.MkdirAll(dataDir, 0o700), os.WriteFile(secretFile, []byte(b.secret+"\n"), 0o600)); err != nil {
		return err
	}
	env := []string{"DEPLOYTOKENS_DATA_DIR=" + dataDir, "DEPLOYTOKENS_SECRET_FILE=" + secretFile, "DEPLOYTOKENS_SIGNING_ALG=" + alg,
		"DEPLOYTOKENS_REGISTRY_SERVICE=" + registryService, "DEPLOYTOKENS_ADMIN_TOKEN=dtbench-admin-" + b.secret[:24]}
	redisURL := ""
	if store == storeRedis {
		if b.redis, err = startRedis(ctx, dir); err != nil {
			return err
		}
		defer func() { b.redis.stop(); b.redis = nil }()
		redisURL = "redis://" + b.redis.addr + "/0"
		env = append(env, "DEPLOYTOKENS_REDIS_URL="+redisURL)
	}
	b.logf("%s, %d tokens: loading", store, n)
	start := time.Now()
	if b.creds, err = loadStore(ctx, redisURL, filepath.Join(dataDir, "deploytokens.db"), b.keys, n, rotate); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	b.logf("%s, %d tokens: loaded in %s", store, n, time.Since(start).Round(time.Millisecond))
	if b.server, err = startServer(ctx, b.bin, env, filepath.Join(b.tmp, fmt.Sprintf("server-%s-%d-%s.log", store, n, alg))); err != nil {
		return err
	}
	defer b.server.stop()
	b.logf("server on %s, its metrics on %s", b.server.addr, b.server.metricsAddr)
	for _, sc := range scenarios {
		if alg != "ES256" && sc.name != scenGET {
			continue
		}
		reqs := make([]request, len(b.creds))
		for i, c := range b.creds {
			reqs[i] = sc.req(b.server.addr, c)
		}
		if err := b.measure(ctx, row{store: store, tokens: n, scenario: sc.name, alg: alg}, reqs); err != nil {
			return err
		}
	}
	return nil
}

// measure warms up on reqs, measures the ceiling for a moment, one window
// of reqs against the running server, and the ceiling for a moment again:
// r is compared with the mean of the two, taken on either side of it.
func (b *bench) measure(ctx context.Context, r row, reqs []request) error {
	srv := b.server
	// Until every request was sent once, so first uses and their last-use
	// writes are behind the window.
	warm := drive(ctx, srv.addr, reqs, loadOptions{concurrency: b.cfg.concurrency, duration: warmup,
		maxDuration: 4 * warmup, minRequests: int64(len(reqs)), maxRequests: maxRequests})
	if warm.errors > 0 {
		return fmt.Errorf("%s warm-up: %d of %d requests failed, first: %s", r.scenario, warm.errors, warm.requests, warm.firstErr)
	}
	if b.ceiling == nil {
		if err := b.startCeiling(ctx, warm.bodyLen); err != nil {
			return err
		}
	}
	b.settle(ctx, srv)
	before, err := b.measureBare(ctx, b.ceiling, scenCeiling, ceilingWindow)
	if err != nil {
		return err
	}
	// A scrape makes the server allocate too: a few thousand objects,
	// noise against the window's requests.
	metrics0, err := scrape(srv.metricsAddr, mallocsMetric, tripsMetric)
	if err != nil {
		b.logf("  %v: the server's figures read n/a", err)
	}
	cpu0 := srv.cpu()
	r.res = drive(ctx, srv.addr, reqs, loadOptions{concurrency: b.cfg.concurrency, duration: b.cfg.duration,
		maxDuration: b.cfg.duration, maxRequests: maxRequests, offset: warm.requests, record: true})
	r.serverCPU = (srv.cpu() - cpu0) / time.Duration(max(r.res.requests, 1))
	metrics1, _ := scrape(srv.metricsAddr, mallocsMetric, tripsMetric)
	r.allocs, r.roundTrips = perRequest(metrics0, metrics1, mallocsMetric, r.res.requests), -1
	if r.store == storeRedis {
		r.roundTrips = perRequest(metrics0, metrics1, tripsMetric, r.res.requests)
	}
	after, err := b.measureBare(ctx, b.ceiling, scenCeiling, ceilingWindow)
	if err != nil {
		return err
	}
	r.ceiling = (before.res.rps() + after.res.rps()) / 2
	b.rows = append(b.rows, r)
	b.logRow(&r)
	return nil
}

// settle waits, at most two minutes, until the server is idle: the
// warm-up's first uses of each token leave last-use writes behind (one per
// token, then at most one a minute), and with the embedded store ten
// thousand of them synced one by one would otherwise be measured instead
// of the lookups.
func (b *bench) settle(ctx context.Context, srv *child) {
	start := time.Now()
	for time.Since(start) < 2*time.Minute && ctx.Err() == nil {
		c0 := srv.cpu()
		time.Sleep(500 * time.Millisecond)
		if srv.cpu()-c0 <= 30*time.Millisecond {
			break
		}
	}
	if d := time.Since(start); d > time.Second {
		b.logf("  server settled %s after warm-up (writing first uses)", d.Round(100*time.Millisecond))
	}
}

// startCeiling starts the ceiling for the rest of the run, answering a body
// of size bytes (a GET answer's) to GET requests with the current
// credentials: what this machine's HTTP stack and load generator can do
// with nothing behind them.
func (b *bench) startCeiling(ctx context.Context, size int) (err error) {
	if b.ceiling, err = b.startBare(ctx, "ceiling", "-size", strconv.Itoa(size)); err != nil {
		return err
	}
	b.ceilingReqs = make([]request, len(b.creds))
	for i, c := range b.creds {
		b.ceilingReqs[i] = tokenGET(b.ceiling.addr, registryService, c)
		b.ceilingReqs[i].want = []byte(`{"token":"`)
	}
	return nil
}

func (b *bench) startBare(ctx context.Context, name string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startOnFreePorts(ctx, 1, func(addrs []string) (*child, error) {
		return startChild(name, exe, append([]string{"ceiling", "-listen", addrs[0]}, args...), nil, filepath.Join(b.tmp, name+".log"))
	}, func(addrs []string) error { return httpOK("http://" + addrs[0] + "/-/health") })
}

// measureOwn measures, once, a whole window of the ceiling and one of the
// bound: the ceiling's server signing a fresh ES256 token for every answer,
// what this machine's HTTP stack and load generator leave once every
// answer pays one signature.
func (b *bench) measureOwn(ctx context.Context) error {
	bound, err := b.startBare(ctx, "bound", "-sign")
	if err != nil {
		return err
	}
	defer bound.stop()
	var rs [3]row
	for i, w := range []struct {
		c        *child
		scenario string
		d        time.Duration
	}{{b.ceiling, scenCeiling, b.cfg.duration}, {bound, scenBound, b.cfg.duration}, {b.ceiling, scenCeiling, ceilingWindow}} {
		if rs[i], err = b.measureBare(ctx, w.c, w.scenario, w.d); err != nil {
			return err
		}
	}
	rs[0].ceiling, rs[1].ceiling, rs[1].alg = rs[0].res.rps(), (rs[0].res.rps()+rs[2].res.rps())/2, "ES256"
	b.own = rs[:2]
	b.logRow(&rs[0])
	b.logRow(&rs[1])
	return nil
}

// measureBare measures one of dtbench's own servers answering the
// ceiling's requests for d after a second's warm-up.
func (b *bench) measureBare(ctx context.Context, s *child, scenario string, d time.Duration) (row, error) {
	opts := loadOptions{concurrency: b.cfg.concurrency, duration: time.Second, maxDuration: time.Second, maxRequests: maxRequests}
	res := drive(ctx, s.addr, b.ceilingReqs, opts)
	cpu0 := s.cpu()
	if res.errors == 0 {
		opts.duration, opts.maxDuration, opts.record = d, d, true
		res = drive(ctx, s.addr, b.ceilingReqs, opts)
	}
	if err := ctx.Err(); err != nil {
		return row{}, err
	} else if res.errors > 0 {
		return row{}, fmt.Errorf("%s: %d of %d requests failed, first: %s", scenario, res.errors, res.requests, res.firstErr)
	}
	return row{scenario: scenario, res: res, roundTrips: -1, allocs: -1,
		serverCPU: (s.cpu() - cpu0) / time.Duration(max(res.requests, 1))}, nil
}
