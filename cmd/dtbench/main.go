// Command dtbench measures deploytokens' hot paths on this machine and
// writes what it measured to docs/performance.md.
//
// It starts everything it measures itself, on 127.0.0.1 only: a
// redis-server (free port, temporary directory, no persistence), the
// server built from this module as it ships, and a bare echo server whose
// throughput is the ceiling (and, once, the same server signing every
// answer: the bound). For each store and number of tokens it loads the
// tokens through the ordinary Store methods, starts the server on them and
// drives docker-pull-shaped load from a closed-loop generator: GET and
// POST /jwt/auth with deploy tokens, and git info/refs. The server's own
// figures (allocations) come from its /metrics; CPU and memory from /proc.
// Everything it started is stopped before it exits, Ctrl-C included.
//
// Usage (from the module root; make bench runs it):
//
//	go run ./cmd/dtbench [-n 1000,100000,1000000] [-stores redis,embedded] [-duration 10s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
	git         bool
	out         string
	cmdline     string
	// serverCPUs, when set, are the CPUs the measured servers (ours, the
	// ceiling and the bound) run on; dtbench itself, and with it the load
	// generator and redis-server, must run on others.
	serverCPUs string
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{cmdline: strings.TrimSpace("dtbench " + strings.Join(args, " "))}
	fs := flag.NewFlagSet("dtbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ns := fs.String("n", "1000,100000,1000000", "comma-separated numbers of stored deploy tokens")
	stores := fs.String("stores", "redis,embedded", "stores to measure: redis, embedded")
	algs := fs.String("algs", "RS256,EdDSA", "signing algorithms measured once besides ES256 (Redis, first -n); empty for none")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured window")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "warm-up before each window (longer until every rotated token was used once, at most 4x)")
	fs.IntVar(&c.concurrency, "concurrency", 64, "concurrent connections of the load generator")
	fs.IntVar(&c.rotate, "rotate", 10000, "deploy tokens the token requests rotate over")
	fs.BoolVar(&c.git, "git", true, "measure the git scenarios")
	fs.StringVar(&c.out, "out", "docs/performance.md", "markdown file to write the results into (between its dtbench markers); empty for none")
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
		if f = strings.TrimSpace(f); f != storeRedis && f != storeEmbed {
			return nil, fmt.Errorf("-stores: %q is not redis or embedded", f)
		}
		c.stores = append(c.stores, strings.TrimSpace(f))
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
		return nil, errors.New("-rotate: must be at least 1")
	}
	if c.serverCPUs != "" {
		var own unix.CPUSet
		if err := unix.SchedGetaffinity(0, &own); err != nil {
			return nil, fmt.Errorf("-server-cpus: reading dtbench's own CPUs: %w", err)
		}
		if err := checkServerCPUs(c.serverCPUs, own); err != nil {
			return nil, fmt.Errorf("-server-cpus: %w", err)
		}
	}
	return c, nil
}

// checkServerCPUs accepts a taskset list ("0", "0,2", "1-3") none of whose
// CPUs is one dtbench may run on (own): the point of pinning is that the
// load generator never takes a core from the servers, nor they from it.
// taskset itself refuses CPUs that are not online.
func checkServerCPUs(list string, own unix.CPUSet) error {
	for f := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(f, "-")
		if !isRange {
			hi = lo
		}
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		if errA != nil || errB != nil || a < 0 || b < a || b >= 1024 {
			return fmt.Errorf("%q is not a CPU number or range", f)
		}
		for cpu := a; cpu <= b; cpu++ {
			if own.IsSet(cpu) {
				return fmt.Errorf("dtbench itself may run on CPU %d, so the load generator would share it with the servers; "+
					"run dtbench on the other CPUs: taskset -c <others> go run ./cmd/dtbench -server-cpus %s", cpu, list)
			}
		}
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	if _, err := os.Stat("cmd/deploytokens"); err != nil {
		return fmt.Errorf("run dtbench from the module root (make bench does): %w", err)
	}
	b, err := newBench(cfg, stdout)
	if err != nil {
		return err
	}
	defer b.close()
	if err := b.run(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, b.text())
	if cfg.out != "" {
		if err := writeMarkdown(cfg.out, b.markdown()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwrote %s\n", cfg.out)
	}
	return nil
}
