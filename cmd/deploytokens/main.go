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
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/version"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

const usage = `deploytokens: GitLab-style deploy tokens for container registries and git.

Usage:
  deploytokens serve [flags]        run the server
  deploytokens keys jwks|cert|rotate [flags]  print the registry's JWKS file or certificate bundle, or add a signing key
  deploytokens ci-env [flags] [--exec -- command...]  a CI job's variables, as export lines or in a command's environment
  deploytokens credential-provider [flags]  kubelet image credential provider: a pod's service-account token as registry credentials
  deploytokens version              print the version (also: deploytokens --version)
  deploytokens health [flags]       exit 0 when a running server answers /-/health (the image's HEALTHCHECK)

Each command answers --help with its flags, the variables it reads and its exit codes.
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
	case "version", "--version", "-version":
		err = cmdVersion(args[1:], stdout)
	case "health":
		err = cmdHealth(ctx, args[1:], getenv, stdout, stderr)
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
	var exit exitError
	if errors.As(err, &exit) {
		return int(exit)
	}
	var bad usageError
	if errors.As(err, &bad) {
		cmd := args[0]
		if cmd == "keys" && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
			cmd += " " + args[1]
		}
		fmt.Fprintf(stderr, "deploytokens %s: %v (deploytokens %s --help lists the flags)\n", args[0], err, cmd)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "deploytokens %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// loadConfig reads defaults, then variables, then flags, and validates;
// --help prints serve's help to helpOut.
func loadConfig(name string, args []string, getenv func(string) string, helpOut io.Writer) (Config, error) {
	cfg := defaultConfig()
	fs := newFlagSet(name)
	cfg.bind(fs)
	return cfg, parseConfig(&cfg, fs, args, getenv, serveHelp, helpOut)
}

// parseConfig parses args into cfg's settings bound on fs, then applies
// the variables of those settings, and validates.
func parseConfig(cfg *Config, fs *flag.FlagSet, args []string, getenv func(string) string, h commandHelp, helpOut io.Writer) error {
	if err := parseFlags(fs, args, h, helpOut); err != nil {
		return err
	}
	envErr := cfg.applyEnv(fs, getenv)
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return errors.Join(envErr, cfg.Validate())
}

var serveHelp = commandHelp{
	usage: "deploytokens serve [flags]",
	about: `Runs the server until SIGTERM or SIGINT, then lets the requests in flight
finish (up to --shutdown-timeout). With --tls-cert and --tls-key it serves
HTTPS (and HTTP/2), and reloads the pair on SIGHUP or when the files change.
Every setting is a flag and a DEPLOYTOKENS_* variable.`,
	exit: `  0  stopped by SIGTERM or SIGINT (or --help)
  1  a setting is invalid, the server could not start (each message names
     the setting or file), or it failed while serving
  2  bad command line: unknown flag or a flag's value of the wrong kind`,
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
	cfg, err := loadConfig("serve", args, getenv, stdout)
	if err != nil {
		return err
	}
	// The certificate and the port before anything is created: a first
	// start that fails leaves no data dir, secret or admin token behind.
	var certs *certReloader
	if cfg.TLSCert != "" {
		if certs, err = loadCertPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen (DEPLOYTOKENS_LISTEN): %w", err)
	}
	logs := newLogWriter(stderr)
	defer logs.Close()
	logger := newLogger(&cfg, logs)
	redis.SetLogger(redisLogger{logger})
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the TLS pair; without TLS it has nothing to do, but
	// must not end the server (Go's default), which systemctl reload
	// (the unit's ExecReload) would otherwise do, and systemd counts that
	// as a clean exit it does not restart.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	a, err := newApp(ctx, cfg, logger)
	if errors.Is(err, boltstore.ErrLocked) {
		ln.Close()
		return fmt.Errorf("%w: another deploytokens is running on this data dir (a second make run in this checkout?); stop it, or give this one another --data-dir (DEPLOYTOKENS_DATA_DIR)", err)
	}
	if err != nil {
		ln.Close()
		return err
	}
	if certs != nil {
		a.tlsConfig = certs.tlsConfig()
		go certs.watch(ctx, hup, logger)
	} else {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					logger.Info("SIGHUP: nothing to reload without TLS (DEPLOYTOKENS_TLS_CERT)")
				}
			}
		}()
	}
	store := "embedded store in " + cfg.DataDir
	if cfg.RedisURL != "" {
		store = "redis"
	}
	logger.Info("deploytokens listening", "version", version.Get().Version, "url", cfg.ExternalURL, "addr", ln.Addr().String(),
		"tls", certs != nil, "store", store)
	if a.adminTokenFile != "" {
		// The path, not the token: secrets never reach a terminal log.
		fmt.Fprintf(stdout, "Generated the admin token of user root into %s (mode 0600): export TOKEN=$(cat %s), and sign in to the web page as root with it\n", a.adminTokenFile, a.adminTokenFile)
	}
	return a.serve(ctx, ln)
}
