// Command deploytokens serves GitLab-style deploy tokens for a container
// registry and git hosting. Subcommands: serve, keys, ci-env.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
)

const usage = `deploytokens: GitLab-style deploy tokens for container registries and git.

Usage:
  deploytokens serve [flags]        run the server (deploytokens serve --help lists every setting)
  deploytokens keys jwks|cert|rotate  print the registry's JWKS file or certificate bundle, or add a signing key
  deploytokens ci-env --url URL --project PATH  print a CI job's variables as export lines (PAT in DEPLOYTOKENS_TOKEN)
  deploytokens credential-provider --url URL --username NAME  kubelet image credential provider: a pod's service-account token as registry credentials
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], getenv, stdout, stderr)
	case "keys":
		err = cmdKeys(ctx, args[1:], getenv, stdout, stderr)
	case "ci-env":
		err = cmdCIEnv(ctx, args[1:], getenv, stdout, stderr)
	case "credential-provider":
		err = cmdCredentialProvider(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "deploytokens: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "deploytokens %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// loadConfig reads defaults, then variables, then flags, and validates.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("deploytokens "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.bind(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	envErr := cfg.applyEnv(fs, getenv)
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg, errors.Join(envErr, cfg.Validate())
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redisLogger sends go-redis's own messages (reconnects, pool errors) to
// slog instead of the standard logger.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("serve", args, getenv, stderr)
	if err != nil {
		return err
	}
	logs := newLogWriter(stderr)
	defer logs.Close()
	logger := newLogger(&cfg, logs)
	redis.SetLogger(redisLogger{logger})
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		a.close()
		return fmt.Errorf("--listen (DEPLOYTOKENS_LISTEN): %w", err)
	}
	store := "embedded store in " + cfg.DataDir
	if cfg.RedisURL != "" {
		store = "redis"
	}
	logger.Info("deploytokens listening", "url", cfg.ExternalURL, "addr", ln.Addr().String(), "store", store)
	if a.adminTokenFile != "" {
		// The path, not the token: secrets never reach a terminal log.
		fmt.Fprintf(stdout, "Generated the admin token of user root into %s (mode 0600): export DEPLOYTOKENS_TOKEN=$(cat %s)\n", a.adminTokenFile, a.adminTokenFile)
	}
	return a.serve(ctx, ln)
}
