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

// Scenario names.
const (
	scenGET     = "GET /jwt/auth"
	scenPOST    = "POST /jwt/auth"
	scenGitRepo = "git info/refs, empty repository"
	scenGitAuth = "git info/refs, authorization only"
	scenCeiling = "ceiling: bare echo, fixed answer"
	scenBound   = "bound: bare echo, one signature"
	storeRedis  = "redis"
	storeEmbed  = "embedded"
	// monitorLimit bounds the MONITOR window, which a git row (process
	// spawns) would otherwise stretch.
	monitorLimit = 3 * time.Second
)

// row is one measured window.
type row struct {
	store    string
	tokens   int
	scenario string
	alg      string
	res      loadResult
	// roundTrips are the commands the server sent Redis per request
	// (MONITOR sample); negative when not measured.
	roundTrips float64
	// commands are Redis commands executed per request over the window,
	// those scripts run inside Redis included (INFO commandstats).
	commands  string
	allocs    float64 // negative when not measured
	serverCPU time.Duration
	redisCPU  time.Duration
	genCPU    time.Duration
	// otherCores is the CPU other processes on the machine used during
	// the window, in cores: what was left for this measurement.
	otherCores     float64
	rss, hwm, anon int64
	// adjCeiling is the ceiling's req/s measured on either side of the
	// row (the mean of the two windows).
	adjCeiling float64
	// writeTrips are the round trips per request that wrote: last-use
	// writes, made off the request path, once a minute per token.
	writeTrips float64
	// roundTripCmds are the round trips by command.
	roundTripCmds string
}

// token tells whether the row is a token request (the targets' rows).
func (r *row) token() bool { return r.scenario == scenGET || r.scenario == scenPOST }

// memRow is what one dataset cost to load and keep.
type memRow struct {
	store          string
	tokens         int
	projects       int
	projectsLoad   time.Duration
	tokensLoad     time.Duration
	sampledPerTok  float64 // MEMORY USAGE, sampled
	usedPerTok     float64 // used_memory delta over the token load / tokens
	dbFileBytes    int64   // embedded store file
	serverPeakRSS  int64
	serverStartRSS int64
	// serverAnon is the most anonymous memory (heap, stacks) seen at the
	// end of a window; the rest of the RSS is mapped files.
	serverAnon int64
}

type bench struct {
	cfg    *config
	out    io.Writer
	tmp    string
	bin    string
	keys   *tokens.Keys
	secret string
	rows   []row
	mems   []memRow
	// ceilings are the ceiling's whole windows: one after the first
	// dataset, one at the end. ceiling runs from the first GET window on.
	ceilings []row
	ceiling  *child
	// bound is the bound's whole window, measured once after the first
	// ceiling window.
	bound       *row
	ceilingAddr string
	ceilingReqs []request
	// bodyLen is the size of a GET ES256 answer, the ceiling's body, and
	// ceilingCreds the credentials of those requests.
	bodyLen      int
	ceilingCreds []cred
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
	b.logf("building the server (cmd/deploytokens with the dtbench debug listener)")
	if err := buildServer(ctx, b.cfg.root, b.bin, b.tmp); err != nil {
		return err
	}
	algsDone := false
	for _, store := range b.cfg.stores {
		for _, n := range b.cfg.ns {
			if err := b.dataset(ctx, store, n, !algsDone && store == storeRedis); err != nil {
				return fmt.Errorf("%s, %d tokens: %w", store, n, err)
			}
			algsDone = algsDone || store == storeRedis
			if len(b.ceilings) == 0 && b.ceiling != nil {
				if err := b.longCeiling(ctx); err != nil {
					return err
				}
				if err := b.measureBound(ctx); err != nil {
					return err
				}
			}
		}
	}
	if b.ceiling == nil {
		return errors.New("no GET answer was measured, so there is no ceiling to compare with")
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
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(b.secret+"\n"), 0o600); err != nil {
		return err
	}
	env := []string{
		"DEPLOYTOKENS_DATA_DIR=" + dataDir,
		"DEPLOYTOKENS_SECRET_FILE=" + secretFile,
		"DEPLOYTOKENS_REGISTRY_SERVICE=" + registryService,
		"DEPLOYTOKENS_ADMIN_TOKEN=" + "dtbench-admin-" + b.secret[:24],
	}
	mem := memRow{store: store, tokens: n}

	var (
		rc *redis.Client
		st bulkStore
	)
	if store == storeRedis {
		if b.redis, err = startRedis(ctx, dir); err != nil {
			return err
		}
		defer func() { b.redis.stop(); b.redis = nil }()
		rc = redis.NewClient(&redis.Options{Addr: b.redis.addr})
		defer rc.Close()
		rs, err := redisstore.New(ctx, redisstore.Options{URL: b.redis.url()})
		if err != nil {
			return err
		}
		st = rs
		env = append(env, "DEPLOYTOKENS_REDIS_URL="+b.redis.url())
	} else {
		bs, err := boltstore.Open(filepath.Join(dataDir, "deploytokens.db"))
		if err != nil {
			return err
		}
		st = bs
	}

	b.logf("%s, %d tokens: loading", store, n)
	var usedBefore int64
	ds, err := load(ctx, st, b.keys, n, b.cfg.rotate, func() {
		if rc != nil {
			usedBefore, _ = infoInt(ctx, rc, "memory", "used_memory")
		}
	})
	if err != nil {
		st.Close()
		return fmt.Errorf("load: %w", err)
	}
	mem.projects, mem.projectsLoad, mem.tokensLoad = ds.projects, ds.projectsLoad, ds.tokensLoad
	if rs, ok := st.(*redisstore.Store); ok {
		usedAfter, err := infoInt(ctx, rc, "memory", "used_memory")
		if err != nil {
			return err
		}
		var sum int64
		for _, t := range ds.sample {
			m, err := rs.DeployTokenMemory(ctx, t)
			if err != nil {
				return err
			}
			sum += m
		}
		mem.sampledPerTok = float64(sum) / float64(len(ds.sample))
		mem.usedPerTok = float64(usedAfter-usedBefore) / float64(n)
	}
	if err := st.Close(); err != nil {
		return err
	}
	if fi, err := os.Stat(filepath.Join(dataDir, "deploytokens.db")); err == nil {
		mem.dbFileBytes = fi.Size()
	}
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
	host := b.server.addr
	scenarios := []struct {
		name  string
		creds []cred
		req   func(cred) request
	}{
		{scenGET, ds.rotating, func(c cred) request { return tokenGET(host, registryService, c) }},
		{scenPOST, ds.rotating, func(c cred) request { return tokenPOST(host, registryService, c) }},
	}
	if b.cfg.git {
		scenarios = append(scenarios,
			struct {
				name  string
				creds []cred
				req   func(cred) request
			}{scenGitRepo, ds.gitRepo, func(c cred) request { return gitInfoRefs(host, c, http.StatusOK, "version 2") }},
			struct {
				name  string
				creds []cred
				req   func(cred) request
			}{scenGitAuth, ds.gitNoRepo, func(c cred) request { return gitInfoRefs(host, c, http.StatusNotFound, "Not Found") }},
		)
	}
	for i, sc := range scenarios {
		if len(sc.creds) == 0 {
			continue
		}
		reqs := make([]request, len(sc.creds))
		for j, c := range sc.creds {
			reqs[j] = sc.req(c)
		}
		r, err := b.measure(ctx, store, n, sc.name, "ES256", reqs, rc, i == 0 && len(b.rows) == 0)
		if err != nil {
			return err
		}
		mem.serverPeakRSS = max(mem.serverPeakRSS, r.hwm)
		mem.serverAnon = max(mem.serverAnon, r.anon)
	}
	b.server.stop()

	if algs {
		for _, alg := range b.cfg.algs {
			// A stored key set keeps its algorithm; drop it so the
			// server makes one of alg.
			rs, err := redisstore.New(ctx, redisstore.Options{URL: b.redis.url()})
			if err != nil {
				return err
			}
			err = rs.Delete(ctx, jwks.DefaultStoreKey)
			rs.Close()
			if err != nil {
				return err
			}
			if err := b.startServer(ctx, append(env, "DEPLOYTOKENS_SIGNING_ALG="+alg), logPath); err != nil {
				return err
			}
			reqs := make([]request, len(ds.rotating))
			for j, c := range ds.rotating {
				reqs[j] = tokenGET(b.server.addr, registryService, c)
			}
			r, err := b.measure(ctx, store, n, scenGET, alg, reqs, rc, false)
			if err != nil {
				return err
			}
			mem.serverPeakRSS = max(mem.serverPeakRSS, r.hwm)
			mem.serverAnon = max(mem.serverAnon, r.anon)
			b.server.stop()
		}
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
	return nil
}

// measure measures the ceiling for a moment, warms up, measures one window
// of reqs against the running server, (with Redis) counts round trips in a
// short MONITOR window, and measures the ceiling for a moment again: the
// row is compared with the mean of the two, taken on either side of it.
func (b *bench) measure(ctx context.Context, store string, n int, scenario, alg string, reqs []request, rc *redis.Client, first bool) (row, error) {
	srv := b.server
	r := row{store: store, tokens: n, scenario: scenario, alg: alg, roundTrips: -1, allocs: -1, commands: "—"}
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

	var stats0 map[string]int64
	if rc != nil {
		if stats0, err = commandStats(ctx, rc); err != nil {
			return r, err
		}
	}
	allocs0, allocErr := srv.allocs()
	busy0, cpu0, gen0 := machineBusy(), srv.cpu(), selfCPU()
	var redisCPU0 time.Duration
	if b.redis != nil {
		redisCPU0 = b.redis.cpu()
	}
	// The profiles asked for are of the first window of the run.
	var captures []capture
	if first {
		captures = srv.captures(ctx, b.cfg.duration, b.cfg.profile, b.cfg.trace)
	}
	r.res = drive(ctx, srv.addr, reqs, loadOptions{
		concurrency: b.cfg.concurrency, duration: b.cfg.duration, maxDuration: b.cfg.duration,
		maxRequests: b.cfg.maxRequests, offset: warm.requests, record: true,
	})
	if err := ctx.Err(); err != nil {
		return r, err
	}
	req := max(r.res.requests, 1)
	ours := srv.cpu() - cpu0 + selfCPU() - gen0
	r.serverCPU = (srv.cpu() - cpu0) / time.Duration(req)
	r.genCPU = (selfCPU() - gen0) / time.Duration(req)
	if b.redis != nil {
		ours += b.redis.cpu() - redisCPU0
		r.redisCPU = (b.redis.cpu() - redisCPU0) / time.Duration(req)
	}
	r.otherCores = max(float64(machineBusy()-busy0-ours)/float64(r.res.elapsed), 0)
	if allocs1, err := srv.allocs(); err == nil && allocErr == nil {
		r.allocs = float64(allocs1-allocs0) / float64(req)
	}
	if rc != nil {
		after, err := commandStats(ctx, rc)
		if err != nil {
			return r, err
		}
		r.commands = fmtCommands(commandDelta(stats0, after), r.res.requests)
	}
	r.rss, r.hwm, r.anon = srv.rss()
	for _, c := range captures {
		if err := <-c.done; err != nil {
			b.logf("%s: %v", c.what, err)
		} else {
			b.logf("%s written to %s", c.what, c.path)
		}
	}

	if b.redis != nil {
		m, err := startMonitor(b.redis.addr)
		if err != nil {
			return r, err
		}
		mres := drive(ctx, srv.addr, reqs, loadOptions{
			concurrency: b.cfg.concurrency, duration: monitorLimit, maxDuration: monitorLimit,
			maxRequests: b.cfg.monitorReqs, offset: warm.requests + r.res.requests,
		})
		clients, writes, byCmd := m.stop()
		if mres.errors == 0 && mres.requests > 0 {
			r.roundTrips = float64(clients) / float64(mres.requests)
			r.writeTrips = float64(writes) / float64(mres.requests)
			r.roundTripCmds = fmtCommands(byCmd, mres.requests)
		}
	}
	after, err := b.measureCeiling(ctx, ceilingWindow)
	if err != nil {
		return r, err
	}
	r.adjCeiling = (before.res.rps() + after.res.rps()) / 2
	b.rows = append(b.rows, r)
	share := -1.0
	if r.adjCeiling > 0 {
		share = 100 * r.res.rps() / r.adjCeiling
	}
	trips := "—"
	if r.roundTrips >= 0 {
		trips = fmt.Sprintf("%.2f (%s; last-use writes %.2f)", r.roundTrips, r.roundTripCmds, r.writeTrips)
	}
	b.logf("%-9s %8d  %-38s %-5s %6.0f req/s (%s%% of ceiling)  %s  errors %d  round trips %s  allocs %s  other load %.2f cores",
		store, n, scenario, alg, r.res.rps(), fmtFloat(share, 1), r.res.latencyLine(), r.res.errors, trips, fmtFloat(r.allocs, 0), r.otherCores)
	if r.res.errors > 0 {
		b.logf("  first error: %s", r.res.firstErr)
	}
	return r, nil
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
		minRequests: int64(len(reqs)), maxRequests: b.cfg.maxRequests,
	})
}

// settleLimit bounds the wait for the server to go idle after a warm-up.
const settleLimit = 2 * time.Minute

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

// ceilingWindow is how long the ceiling is measured right after each row,
// so the row's share of it compares the two at the same speed of the
// machine (a shared virtual machine's speed drifts by 10% and more over
// minutes).
const ceilingWindow = 3 * time.Second

// startCeiling runs the bare echo server, answering a body of the size of
// a GET answer of the running server, for the rest of the run; its requests
// are GET requests with creds.
//
// The ceiling is what this machine's HTTP stack and load generator can do
// with nothing behind them; every scenario is reported as a share of it.
func (b *bench) startCeiling(ctx context.Context, creds []cred) error {
	// The size of a GET answer, from the running server.
	w := &worker{addr: b.server.addr}
	status, body, _, err := w.do(tokenGET(b.server.addr, registryService, creds[0]).raw)
	w.close()
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("a first token request answered %d, %v: %.200s", status, err, body)
	}
	b.bodyLen, b.ceilingCreds = len(body), creds
	c, addr, reqs, err := b.startBare(ctx, "ceiling", "-size", strconv.Itoa(b.bodyLen))
	b.ceiling, b.ceilingAddr, b.ceilingReqs = c, addr, reqs
	return err
}

// startBare starts `dtbench ceiling` with args on a free loopback port and
// answers it, its address and the GET requests of the first dataset it is
// measured with.
func (b *bench) startBare(ctx context.Context, name string, args ...string) (*child, string, []request, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", nil, err
	}
	addr := loopback(port)
	bin, args := pinned(b.cfg.serverCPUs, exe, append([]string{"ceiling", "-listen", addr}, args...))
	c, err := startChild(name, bin, args, nil, filepath.Join(b.tmp, name+".log"))
	if err != nil {
		return nil, "", nil, err
	}
	if err := c.waitReady(ctx, func() error { return httpOK("http://" + addr + "/-/health") }); err != nil {
		return c, "", nil, err
	}
	reqs := make([]request, len(b.ceilingCreds))
	for i, cr := range b.ceilingCreds {
		reqs[i] = tokenGET(addr, registryService, cr)
		reqs[i].want = []byte(`{"token":"`)
	}
	return c, addr, reqs, nil
}

// measureBound measures, once, the bound: a bare echo server like the
// ceiling that signs a fresh ES256 token for every answer, with no
// authentication, no store and no log: what this machine's HTTP stack and
// load generator leave once every answer pays one signature.
func (b *bench) measureBound(ctx context.Context) error {
	c, addr, reqs, err := b.startBare(ctx, "bound", "-sign")
	defer c.stop()
	if err != nil {
		return fmt.Errorf("bound: %w", err)
	}
	r, err := b.measureBare(ctx, c, addr, reqs, scenBound, b.cfg.duration)
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
	b.logf("%-9s %8s  %-38s %-5s %6.0f req/s (%.1f%% of ceiling)  %s  errors %d  other load %.2f cores",
		"—", "—", scenBound, r.alg, r.res.rps(), 100*r.res.rps()/r.adjCeiling, r.res.latencyLine(), r.res.errors, r.otherCores)
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
	warm := drive(ctx, addr, reqs, loadOptions{
		concurrency: b.cfg.concurrency, duration: time.Second, maxDuration: time.Second, maxRequests: b.cfg.maxRequests,
	})
	if warm.errors > 0 {
		return row{}, fmt.Errorf("%s warm-up: %d errors, first: %s", scenario, warm.errors, warm.firstErr)
	}
	busy0, cpu0, gen0 := machineBusy(), c.cpu(), selfCPU()
	res := drive(ctx, addr, reqs, loadOptions{
		concurrency: b.cfg.concurrency, duration: d, maxDuration: d,
		maxRequests: b.cfg.maxRequests, record: true,
	})
	if res.errors > 0 {
		return row{}, fmt.Errorf("%s: %d errors, first: %s", scenario, res.errors, res.firstErr)
	}
	req := max(res.requests, 1)
	ours := c.cpu() - cpu0 + selfCPU() - gen0
	r := row{scenario: scenario, res: res, roundTrips: -1, allocs: -1, commands: "—",
		serverCPU: (c.cpu() - cpu0) / time.Duration(req), genCPU: (selfCPU() - gen0) / time.Duration(req),
		otherCores: max(float64(machineBusy()-busy0-ours)/float64(res.elapsed), 0)}
	r.rss, r.hwm, r.anon = c.rss()
	return r, nil
}

// longCeiling measures the ceiling for a whole window and keeps it as a
// row of its own.
func (b *bench) longCeiling(ctx context.Context) error {
	r, err := b.measureCeiling(ctx, b.cfg.duration)
	if err != nil {
		return err
	}
	r.adjCeiling = r.res.rps()
	b.ceilings = append(b.ceilings, r)
	b.logf("%-9s %8s  %-38s %-5s %8.0f req/s  %s  errors %d  other load %.2f cores  (body %d bytes)",
		"—", "—", scenCeiling, "", r.res.rps(), r.res.latencyLine(), r.res.errors, r.otherCores, b.bodyLen)
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

func fmtFloat(v float64, prec int) string {
	if v < 0 {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}
