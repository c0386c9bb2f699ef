// Command dtbench measures deploytokens' hot paths on this machine and
// writes what it measured to docs/performance.md.
//
// It starts everything it measures itself, on 127.0.0.1 only: a
// redis-server (free port, temporary directory, no persistence), the real
// deploytokens server (built from this module, with a debug listener added
// by go build -overlay so allocations can be read between windows), and a
// bare echo server whose throughput is the ceiling. For each store (Redis,
// then the embedded one) and each number of tokens it bulk-loads the
// tokens directly into the store, starts the server on it, and drives
// load from a closed-loop generator (fixed concurrency, warm-up first,
// each window bounded in time and in requests):
//
//   - GET /jwt/auth with Basic credentials rotating over 10,000 deploy
//     tokens, one repository:<path>:pull scope each (ES256; RS256 and
//     EdDSA once);
//   - POST /jwt/auth with grant_type=password;
//   - git info/refs?service=git-upload-pack of an empty repository, and of
//     a project without one (the authorization step alone);
//
// and reports requests/s, latency quantiles, errors, store round trips
// and Redis commands per request, allocations and CPU per request, server
// RSS and Redis memory per token. Everything it started is stopped before
// it exits, Ctrl-C included.
//
// Usage (from the module root; make bench runs it):
//
//	go run ./cmd/dtbench [-n 1000,100000,1000000] [-stores redis,embedded] [-duration 10s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ceiling" {
		if err := runCeiling(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "dtbench ceiling:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dtbench:", err)
		stop()
		os.Exit(1)
	}
}

// config is dtbench's settings.
type config struct {
	ns          []int
	stores      []string
	algs        []string // besides ES256, measured once
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	rotate      int
	maxRequests int64
	monitorReqs int64
	git         bool
	out         string
	profile     string
	trace       string
	root        string
	cmdline     string
	// serverCPUs, when set, are the CPUs the measured servers (ours, the
	// ceiling and the bound) run on; dtbench itself, and with it the load
	// generator and redis-server, must run on others.
	serverCPUs string
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("dtbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ns := fs.String("n", "1000,100000,1000000", "comma-separated numbers of stored deploy tokens")
	stores := fs.String("stores", "redis,embedded", "stores to measure: redis, embedded")
	algs := fs.String("algs", "RS256,EdDSA", "signing algorithms measured once besides ES256 (Redis, first -n); empty for none")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured window")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "warm-up before each window (longer until every rotated token was used once, at most 4x)")
	fs.IntVar(&c.concurrency, "concurrency", 64, "concurrent connections of the load generator")
	fs.IntVar(&c.rotate, "rotate", 10000, "deploy tokens the token requests rotate over")
	fs.Int64Var(&c.maxRequests, "max-requests", 5_000_000, "most requests one window sends")
	fs.Int64Var(&c.monitorReqs, "monitor-requests", 2000, "most requests of the short window (at most 3s) that counts round trips with Redis MONITOR")
	fs.BoolVar(&c.git, "git", true, "measure the git authorization scenarios")
	fs.StringVar(&c.out, "out", "docs/performance.md", "markdown file to write the results into (between its dtbench markers); empty for none")
	fs.StringVar(&c.profile, "cpuprofile", "", "write a CPU profile of the server during the first GET window to this file")
	fs.StringVar(&c.trace, "trace", "", "write an execution trace of the server over 2s of the first GET window to this file (go tool trace FILE)")
	fs.StringVar(&c.serverCPUs, "server-cpus", "", "run the measured servers on these CPUs only (taskset list, e.g. 0); run dtbench itself on the others: taskset -c 1 go run ./cmd/dtbench -server-cpus 0")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for f := range strings.SplitSeq(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(f, "_", "")))
		if err != nil || n < 1 || n > 10_000_000 {
			return nil, fmt.Errorf("-n: %q is not a number of tokens between 1 and 10000000", f)
		}
		c.ns = append(c.ns, n)
	}
	for f := range strings.SplitSeq(*stores, ",") {
		switch f = strings.TrimSpace(f); f {
		case "redis", "embedded":
			c.stores = append(c.stores, f)
		default:
			return nil, fmt.Errorf("-stores: %q is not redis or embedded", f)
		}
	}
	for f := range strings.SplitSeq(*algs, ",") {
		switch f = strings.TrimSpace(f); f {
		case "":
		case "RS256", "EdDSA", "ES256":
			c.algs = append(c.algs, f)
		default:
			return nil, fmt.Errorf("-algs: %q is not RS256, EdDSA or ES256", f)
		}
	}
	switch {
	case c.duration <= 0 || c.duration > 10*time.Minute:
		return nil, fmt.Errorf("-duration: %s is not between 0 and 10m", c.duration)
	case c.warmup < 0 || c.warmup > 5*time.Minute:
		return nil, fmt.Errorf("-warmup: %s is not between 0 and 5m", c.warmup)
	case c.concurrency < 1 || c.concurrency > 4096:
		return nil, fmt.Errorf("-concurrency: %d is not between 1 and 4096", c.concurrency)
	case c.rotate < 1:
		return nil, fmt.Errorf("-rotate: must be at least 1")
	case c.maxRequests < 1 || c.monitorReqs < 1:
		return nil, fmt.Errorf("-max-requests and -monitor-requests must be at least 1")
	}
	if c.serverCPUs != "" {
		if err := checkServerCPUs(c.serverCPUs); err != nil {
			return nil, fmt.Errorf("-server-cpus: %w", err)
		}
	}
	c.cmdline = "dtbench " + strings.Join(args, " ")
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	if _, err := os.Stat("cmd/deploytokens"); err != nil {
		return fmt.Errorf("run dtbench from the module root (make bench does): %w", err)
	}
	if cfg.root, err = os.Getwd(); err != nil {
		return err
	}
	b, err := newBench(cfg, stdout)
	if err != nil {
		return err
	}
	defer b.close()
	if err := b.run(ctx); err != nil {
		return err
	}
	rep := b.report()
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, rep.text())
	if cfg.out != "" {
		if err := writeMarkdown(cfg.out, rep.markdown()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwrote %s\n", cfg.out)
	}
	return nil
}
