package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/jwks"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// registryService is the service name the server is started with and every
// token request names.
const registryService = "container_registry"

// Scenario and store names.
const (
	scenGET     = "GET /jwt/auth"
	scenPOST    = "POST /jwt/auth"
	scenGitRepo = "git info/refs, empty repository"
	scenGitAuth = "git info/refs, authorization only"
	scenCeiling = "ceiling: bare echo, fixed answer"
	scenBound   = "bound: bare echo, one signature"
	storeRedis  = "redis"
	storeEmbed  = "embedded"
)

const (
	// maxRequests bounds every window, whatever its length.
	maxRequests = 5_000_000
	// ceilingWindow is how long the ceiling is measured on either side of
	// each row, so the row's share of it compares the two at the same
	// speed of the machine (a shared virtual machine's speed drifts by 10%
	// and more over minutes).
	ceilingWindow = 3 * time.Second
	// settleLimit bounds the wait for the server to go idle after a
	// warm-up.
	settleLimit = 2 * time.Minute
)

// row is one measured window.
type row struct {
	store, scenario, alg string
	tokens               int
	res                  loadResult
	// roundTrips are the server's round trips to Redis per request (its
	// /metrics), negative when not measured; writes the fields and keys
	// Redis changed per request: last-use writes, off the request path.
	roundTrips, writes float64
	// commands are the Redis commands run per request over the window,
	// those scripts run inside Redis included (INFO commandstats); empty
	// when not measured.
	commands string
	// allocs are the server's heap allocations per request, from its
	// /metrics; negative when it served none.
	allocs                      float64
	serverCPU, redisCPU, genCPU time.Duration
	// otherCores is the CPU other processes on the machine used during
	// the window, in cores: what was left for this measurement.
	otherCores     float64
	rss, hwm, anon int64
	// adjCeiling is the mean req/s of the ceiling windows on either side
	// of the row.
	adjCeiling float64
}

// memRow is what one dataset cost to load and keep.
type memRow struct {
	store                    string
	tokens, projects         int
	projectsLoad, tokensLoad time.Duration
	// usedPerTok is the growth of Redis' used_memory over the token load,
	// per token.
	usedPerTok                                float64
	dbFileBytes                               int64
	serverStartRSS, serverPeakRSS, serverAnon int64
}

type bench struct {
	cfg      *config
	out      io.Writer
	tmp, bin string
	keys     *tokens.Keys
	secret   string
	rows     []row
	mems     []memRow
	// ceilings are the ceiling's whole windows: one after the first
	// dataset, one at the end; bound is the bound's, measured once after
	// the first of them.
	ceilings    []row
	bound       *row
	ceiling     *child
	ceilingAddr string
	ceilingReqs []request
	bodyLen     int
	// running children, stopped by close whatever happens.
	redis   *redisServer
	server  *server
	machine machineInfo
}

func newBench(cfg *config, out io.Writer) (*bench, error) {
	tmp, err := os.MkdirTemp("", "dtbench-")
	if err != nil {
		return nil, err
	}
	var raw [32]byte
	rand.Read(raw[:])
	b := &bench{cfg: cfg, out: out, tmp: tmp, secret: hex.EncodeToString(raw[:])}
	if b.keys, err = tokens.NewKeys([]byte(b.secret)); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) close() {
	b.server.stop()
	b.ceiling.stop()
	if b.redis != nil {
		b.redis.stop()
	}
	os.RemoveAll(b.tmp)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) run(ctx context.Context) error {
	b.machine = readMachine(ctx)
	b.bin = filepath.Join(b.tmp, "deploytokens")
	b.logf("building the server")
	if err := buildServer(ctx, b.bin); err != nil {
		return err
	}
	algsDone := false
	for _, store := range b.cfg.stores {
		for _, n := range b.cfg.ns {
			if err := b.dataset(ctx, store, n, !algsDone && store == storeRedis); err != nil {
				return fmt.Errorf("%s, %d tokens: %w", store, n, err)
			}
			algsDone = algsDone || store == storeRedis
			if len(b.ceilings) == 0 {
				if err := b.longCeiling(ctx); err != nil {
					return err
				}
				if err := b.measureBound(ctx); err != nil {
					return err
				}
			}
		}
	}
	return b.longCeiling(ctx)
}

// dataset loads n tokens into a fresh store and measures every scenario on
// it.
func (b *bench) dataset(ctx context.Context, store string, n int, algs bool) error {
	dir, err := os.MkdirTemp(b.tmp, store+"-"+strconv.Itoa(n)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dataDir := filepath.Join(dir, "data")
	secretFile := filepath.Join(dir, "secret")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(secretFile, []byte(b.secret+"\n"), 0o600); err != nil {
		return err
	}
	env := []string{
		"DEPLOYTOKENS_DATA_DIR=" + dataDir,
		"DEPLOYTOKENS_SECRET_FILE=" + secretFile,
		"DEPLOYTOKENS_REGISTRY_SERVICE=" + registryService,
		"DEPLOYTOKENS_ADMIN_TOKEN=" + "dtbench-admin-" + b.secret[:24],
	}
	mem := memRow{store: store, tokens: n, usedPerTok: -1}

	var (
		rc       *redis.Client
		st       tokens.Store
		loadPath string // the embedded store's file while it loads
		dbPath   = filepath.Join(dataDir, "deploytokens.db")
	)
	if store == storeRedis {
		if b.redis, err = startRedis(ctx, dir); err != nil {
			return err
		}
		defer func() { b.redis.stop(); b.redis = nil }()
		rc = redis.NewClient(&redis.Options{Addr: b.redis.addr})
		defer rc.Close()
		if st, err = redisstore.New(ctx, redisstore.Options{URL: b.redis.url()}); err != nil {
			return err
		}
		env = append(env, "DEPLOYTOKENS_REDIS_URL="+b.redis.url())
	} else {
		scratch, err := os.MkdirTemp(scratchDir(), "dtbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(scratch)
		loadPath = filepath.Join(scratch, "deploytokens.db")
		if st, err = boltstore.Open(loadPath); err != nil {
			return err
		}
	}

	b.logf("%s, %d tokens: loading", store, n)
	var used0 int64
	ds, err := load(ctx, st, b.keys, n, b.cfg.rotate, func() (err error) {
		if rc != nil {
			used0, err = usedMemory(ctx, rc)
		}
		return err
	})
	if err == nil && rc != nil {
		var used1 int64
		used1, err = usedMemory(ctx, rc)
		mem.usedPerTok = float64(used1-used0) / float64(n)
	}
	if err = errors.Join(err, st.Close()); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if loadPath != "" {
		if err := install(loadPath, dbPath); err != nil {
			return err
		}
		if fi, err := os.Stat(dbPath); err == nil {
			mem.dbFileBytes = fi.Size()
		}
	}
	mem.projects, mem.projectsLoad, mem.tokensLoad = ds.projects, ds.projectsLoad, ds.tokensLoad
	b.logf("%s, %d tokens in %d projects loaded: projects %s, tokens %s", store, n, ds.projects,
		ds.projectsLoad.Round(time.Millisecond), ds.tokensLoad.Round(time.Millisecond))
	if b.cfg.git {
		if err := makeRepos(ctx, b.tmp, filepath.Join(dataDir, "repositories"), ds.repoProjects); err != nil {
			return fmt.Errorf("repositories: %w", err)
		}
	}

	logPath := filepath.Join(b.tmp, fmt.Sprintf("server-%s-%d.log", store, n))
	if err := b.startServer(ctx, append(env, "DEPLOYTOKENS_SIGNING_ALG=ES256"), logPath); err != nil {
		return err
	}
	mem.serverStartRSS, _, _ = b.server.rss()
	if b.ceiling == nil {
		if err := b.startCeiling(ctx, ds.rotating); err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
	}
	type scenario struct {
		name  string
		creds []cred
		req   func(string, cred) request
	}
	get := func(host string, c cred) request { return tokenGET(host, registryService, c) }
	scenarios := []scenario{
		{scenGET, ds.rotating, get},
		{scenPOST, ds.rotating, func(host string, c cred) request { return tokenPOST(host, registryService, c) }},
	}
	if b.cfg.git {
		scenarios = append(scenarios,
			scenario{scenGitRepo, ds.gitRepo, func(host string, c cred) request { return gitInfoRefs(host, c, http.StatusOK, "version 2") }},
			scenario{scenGitAuth, ds.gitNoRepo, func(host string, c cred) request { return gitInfoRefs(host, c, http.StatusNotFound, "Not Found") }},
		)
	}
	measure := func(sc scenario, alg string) error {
		if len(sc.creds) == 0 {
			return nil
		}
		reqs := make([]request, len(sc.creds))
		for j, c := range sc.creds {
			reqs[j] = sc.req(b.server.addr, c)
		}
		r, err := b.measure(ctx, store, n, sc.name, alg, reqs, rc)
		mem.serverPeakRSS = max(mem.serverPeakRSS, r.hwm)
		mem.serverAnon = max(mem.serverAnon, r.anon)
		return err
	}
	for _, sc := range scenarios {
		if err := measure(sc, "ES256"); err != nil {
			return err
		}
	}
	b.server.stop()

	for _, alg := range b.cfg.algs {
		if !algs {
			break
		}
		// A stored key set keeps its algorithm; drop it so the server
		// makes one of alg.
		rs, err := redisstore.New(ctx, redisstore.Options{URL: b.redis.url()})
		if err != nil {
			return err
		}
		if err := errors.Join(rs.Delete(ctx, jwks.DefaultStoreKey), rs.Close()); err != nil {
			return err
		}
		if err := b.startServer(ctx, append(env, "DEPLOYTOKENS_SIGNING_ALG="+alg), logPath); err != nil {
			return err
		}
		if err := measure(scenario{scenGET, ds.rotating, get}, alg); err != nil {
			return err
		}
		b.server.stop()
	}
	b.mems = append(b.mems, mem)
	return nil
}

func (b *bench) startServer(ctx context.Context, env []string, logPath string) error {
	s, err := startServer(ctx, b.bin, b.cfg.serverCPUs, env, logPath)
	if err != nil {
		return err
	}
	b.server = s
	b.logf("server on %s, its metrics on %s", s.addr, s.metricsAddr)
	return nil
}

// measure measures the ceiling for a moment, warms up, measures one window
// of reqs against the running server, and measures the ceiling for a
// moment again: the row is compared with the mean of the two, taken on
// either side of it.
func (b *bench) measure(ctx context.Context, store string, n int, scenario, alg string, reqs []request, rc *redis.Client) (row, error) {
	srv := b.server
	r := row{store: store, tokens: n, scenario: scenario, alg: alg}
	before, err := b.measureCeiling(ctx, ceilingWindow)
	if err != nil {
		return r, err
	}
	warm := b.warmup(ctx, srv.addr, reqs)
	if warm.errors > 0 {
		return r, fmt.Errorf("%s warm-up: %d of %d requests failed, first: %s", scenario, warm.errors, warm.requests, warm.firstErr)
	}
	if d := b.settle(ctx, srv); d > time.Second {
		b.logf("  server settled %s after warm-up (writing first uses)", d.Round(100*time.Millisecond))
	}

	var redis0 redisStats
	if rc != nil {
		if redis0, err = readRedisStats(ctx, rc); err != nil {
			return r, err
		}
	}
	// A scrape makes the server allocate too: a few thousand objects,
	// noise against the window's requests.
	metrics0, _ := scrape(srv.metricsAddr, mallocsMetric, tripsMetric)
	busy0, cpu0, gen0 := machineBusy(), srv.cpu(), selfCPU()
	var redisCPU0 time.Duration
	if b.redis != nil {
		redisCPU0 = b.redis.cpu()
	}
	r.res = drive(ctx, srv.addr, reqs, loadOptions{
		concurrency: b.cfg.concurrency, duration: b.cfg.duration, maxDuration: b.cfg.duration,
		maxRequests: maxRequests, offset: warm.requests, record: true,
	})
	if err := ctx.Err(); err != nil {
		return r, err
	}
	req := time.Duration(max(r.res.requests, 1))
	ours := srv.cpu() - cpu0 + selfCPU() - gen0
	r.serverCPU, r.genCPU = (srv.cpu()-cpu0)/req, (selfCPU()-gen0)/req
	if b.redis != nil {
		ours += b.redis.cpu() - redisCPU0
		r.redisCPU = (b.redis.cpu() - redisCPU0) / req
	}
	r.otherCores = max(float64(machineBusy()-busy0-ours)/float64(r.res.elapsed), 0)
	metrics1, _ := scrape(srv.metricsAddr, mallocsMetric, tripsMetric)
	r.allocs = perRequest(metrics0, metrics1, mallocsMetric, r.res.requests)
	if rc != nil {
		redis1, err := readRedisStats(ctx, rc)
		if err != nil {
			return r, err
		}
		r.commands = fmtCommands(redis0.calls, redis1.calls, r.res.requests)
		r.roundTrips = perRequest(metrics0, metrics1, tripsMetric, r.res.requests)
		r.writes = float64(redis1.writes-redis0.writes) / float64(req)
	}
	r.rss, r.hwm, r.anon = srv.rss()
	after, err := b.measureCeiling(ctx, ceilingWindow)
	if err != nil {
		return r, err
	}
	r.adjCeiling = (before.res.rps() + after.res.rps()) / 2
	b.rows = append(b.rows, r)
	b.logRow(&r)
	if r.res.errors > 0 {
		b.logf("  first error: %s", r.res.firstErr)
	}
	return r, nil
}

func (b *bench) logRow(r *row) {
	b.logf("%-8s %7s  %-33s %-5s %6.0f req/s  %6s of ceiling  p99 %-8s errors %d",
		cmpStr(r.store, "—"), tokensCol(r), r.scenario, r.alg, r.res.rps(), pct(share(r)), fmtDuration(r.res.quantile(.99)), r.res.errors)
}

// warmup sends reqs for the warm-up time, longer (up to four times) until
// every one was sent once, so first uses (and their last-use writes) are
// behind the measured window.
func (b *bench) warmup(ctx context.Context, addr string, reqs []request) loadResult {
	if b.cfg.warmup == 0 {
		return loadResult{}
	}
	return drive(ctx, addr, reqs, loadOptions{
		concurrency: b.cfg.concurrency, duration: b.cfg.warmup, maxDuration: 4 * b.cfg.warmup,
		minRequests: int64(len(reqs)), maxRequests: maxRequests,
	})
}

// settle waits until the server is idle: the warm-up's first uses of each
// token leave last-use writes behind (one per token, then at most one a
// minute), and ten thousand of them synced one by one would otherwise be
// measured instead of the lookups. It answers how long it waited.
func (b *bench) settle(ctx context.Context, srv *server) time.Duration {
	start := time.Now()
	for time.Since(start) < settleLimit && ctx.Err() == nil {
		c0 := srv.cpu()
		time.Sleep(500 * time.Millisecond)
		if srv.cpu()-c0 <= 30*time.Millisecond {
			break
		}
	}
	return time.Since(start)
}

// startCeiling runs the bare echo server, answering a body of the size of
// a GET answer of the running server, for the rest of the run; its requests
// are GET requests with creds. It is what this machine's HTTP stack and
// load generator can do with nothing behind them; every scenario is
// reported as a share of it.
func (b *bench) startCeiling(ctx context.Context, creds []cred) error {
	w := &worker{addr: b.server.addr}
	status, body, _, err := w.do(tokenGET(b.server.addr, registryService, creds[0]).raw)
	w.close()
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("a first token request answered %d, %v: %.200s", status, err, body)
	}
	b.bodyLen = len(body)
	b.ceiling, b.ceilingAddr, err = b.startBare(ctx, "ceiling", "-size", strconv.Itoa(b.bodyLen))
	b.ceilingReqs = make([]request, len(creds))
	for i, c := range creds {
		b.ceilingReqs[i] = tokenGET(b.ceilingAddr, registryService, c)
		b.ceilingReqs[i].want = []byte(`{"token":"`)
	}
	return err
}

// startBare starts `dtbench ceiling` with args on a free loopback port and
// answers it and its address.
func (b *bench) startBare(ctx context.Context, name string, args ...string) (*child, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := loopback(port)
	bin, args := pinned(b.cfg.serverCPUs, exe, append([]string{"ceiling", "-listen", addr}, args...))
	c, err := startChild(name, bin, args, nil, filepath.Join(b.tmp, name+".log"))
	if err != nil {
		return nil, "", err
	}
	return c, addr, c.waitReady(ctx, func() error { return httpOK("http://" + addr + "/-/health") })
}

// measureBound measures, once, the bound: a bare echo server like the
// ceiling that signs a fresh ES256 token for every answer, with no
// authentication, no store and no log: what this machine's HTTP stack and
// load generator leave once every answer pays one signature.
func (b *bench) measureBound(ctx context.Context) error {
	c, addr, err := b.startBare(ctx, "bound", "-sign")
	defer c.stop()
	if err != nil {
		return fmt.Errorf("bound: %w", err)
	}
	r, err := b.measureBare(ctx, c, addr, b.ceilingReqs, scenBound, b.cfg.duration)
	if err != nil {
		return err
	}
	r.alg = "ES256"
	after, err := b.measureCeiling(ctx, ceilingWindow)
	if err != nil {
		return err
	}
	r.adjCeiling = (b.ceilings[len(b.ceilings)-1].res.rps() + after.res.rps()) / 2
	b.bound = &r
	b.logRow(&r)
	return nil
}

// measureCeiling measures the ceiling like the GET scenario (the same
// requests, an answer of the same size) for d after a short warm-up.
func (b *bench) measureCeiling(ctx context.Context, d time.Duration) (row, error) {
	return b.measureBare(ctx, b.ceiling, b.ceilingAddr, b.ceilingReqs, scenCeiling, d)
}

// measureBare measures one of dtbench's own bare servers, c, answering
// reqs, for d after a short warm-up.
func (b *bench) measureBare(ctx context.Context, c *child, addr string, reqs []request, scenario string, d time.Duration) (row, error) {
	opts := loadOptions{concurrency: b.cfg.concurrency, duration: time.Second, maxDuration: time.Second, maxRequests: maxRequests}
	if warm := drive(ctx, addr, reqs, opts); warm.errors > 0 {
		return row{}, fmt.Errorf("%s warm-up: %d errors, first: %s", scenario, warm.errors, warm.firstErr)
	}
	busy0, cpu0, gen0 := machineBusy(), c.cpu(), selfCPU()
	opts.duration, opts.maxDuration, opts.record = d, d, true
	res := drive(ctx, addr, reqs, opts)
	if res.errors > 0 {
		return row{}, fmt.Errorf("%s: %d errors, first: %s", scenario, res.errors, res.firstErr)
	}
	req := time.Duration(max(res.requests, 1))
	ours := c.cpu() - cpu0 + selfCPU() - gen0
	r := row{scenario: scenario, res: res,
		serverCPU: (c.cpu() - cpu0) / req, genCPU: (selfCPU() - gen0) / req,
		otherCores: max(float64(machineBusy()-busy0-ours)/float64(res.elapsed), 0)}
	r.rss, r.hwm, r.anon = c.rss()
	return r, nil
}

// longCeiling measures the ceiling for a whole window and keeps it as a
// row of its own.
func (b *bench) longCeiling(ctx context.Context) error {
	if b.ceiling == nil {
		return errors.New("no GET answer was measured, so there is no ceiling to compare with")
	}
	r, err := b.measureCeiling(ctx, b.cfg.duration)
	if err != nil {
		return err
	}
	r.adjCeiling = r.res.rps()
	b.ceilings = append(b.ceilings, r)
	b.logRow(&r)
	return nil
}

// selfCPU answers the CPU time dtbench (the load generator) has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
