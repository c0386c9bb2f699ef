// Command dtbench is make bench: it measures deploytokens' hot paths on
// this machine and writes the table into docs/performance.md.
//
// It starts everything it measures on 127.0.0.1: a redis-server, the server
// built from this module as it ships, and a bare echo server whose
// throughput is the ceiling (and, once, the same server signing every
// answer: the bound). For each store and number of tokens it loads the
// tokens through the Store methods, starts the server and drives
// docker-pull-shaped load at it; the server's allocations and round trips
// come from its /metrics, CPU from /proc. Ctrl-C stops everything it
// started.
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

type config struct {
	ns           []int
	stores       []string
	duration     time.Duration
	concurrency  int
	out, cmdline string
	// refusals is how many samples of each refusal case to time (0:
	// none); refusalsOnly skips the throughput windows.
	refusals     int
	refusalsOnly bool
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{cmdline: strings.TrimSpace("dtbench " + strings.Join(args, " "))}
	fs := flag.NewFlagSet("dtbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ns := fs.String("n", "1000,100000,1000000", "comma-separated numbers of stored deploy tokens")
	stores := fs.String("stores", "redis,embedded", "stores to measure: redis, embedded")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured window")
	fs.IntVar(&c.concurrency, "concurrency", 64, "concurrent connections of the load generator")
	fs.IntVar(&c.refusals, "refusals", 1500, "samples of each refusal case (unknown secret, revoked, banned, ...), timed interleaved; 0: none")
	fs.BoolVar(&c.refusalsOnly, "refusals-only", false, "time the refusals only, not the throughput windows (and write no table)")
	fs.StringVar(&c.out, "out", "docs/performance.md", "markdown file to write the table into (between its dtbench markers); empty for none")
	if err := fs.Parse(args); err != nil {
		return nil, err
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
		c.stores = append(c.stores, f)
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.duration <= 0 || c.duration > 10*time.Minute:
		return nil, fmt.Errorf("-duration: %s is not between 0 and 10m", c.duration)
	case c.concurrency < 1 || c.concurrency > 4096:
		return nil, fmt.Errorf("-concurrency: %d is not between 1 and 4096", c.concurrency)
	case c.refusals < 0 || c.refusals > 1_000_000:
		return nil, fmt.Errorf("-refusals: %d is not between 0 and 1000000", c.refusals)
	case c.refusalsOnly && c.refusals == 0:
		return nil, errors.New("-refusals-only needs -refusals above 0")
	}
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
	b, err := newBench(cfg, stdout)
	if err != nil {
		return err
	}
	defer b.close()
	if err := b.run(ctx); err != nil {
		return err
	}
	if cfg.refusalsOnly {
		return nil
	}
	md := b.markdown()
	fmt.Fprintf(stdout, "\n%s\n", md)
	if cfg.out == "" {
		return nil
	}
	fmt.Fprintf(stdout, "writing %s\n", cfg.out)
	return writeMarkdown(cfg.out, md)
}
