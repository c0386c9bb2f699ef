package testenv

import (
	"cmp"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// registryStartTimeout bounds how long the registry may take to answer its
// first request.
const registryStartTimeout = 20 * time.Second

// RegistryConfig says which token realm the registry trusts. Realm, Service
// and Issuer are required, and so is at least one of JWKSFile and
// RootCertBundle.
type RegistryConfig struct {
	// Realm is the token endpoint URL the registry names in its
	// WWW-Authenticate challenge. Use a localhost name, not 127.0.0.1:
	// go-containerregistry (crane) refuses a realm whose host is a loopback
	// IP literal unless it is the registry's own host:port.
	Realm string
	// Service is the registry's name: the challenge's service parameter and
	// the audience a token must carry.
	Service string
	// Issuer must equal a token's iss claim.
	Issuer string
	// Port, when set, is the loopback port to listen on (for a token
	// server that must know the registry's address before it starts).
	Port int
	// JWKSFile is a JSON Web Key Set; a token whose header kid names one of
	// its keys is verified with that key.
	JWKSFile string
	// RootCertBundle is a PEM bundle of certificates; a token is trusted
	// when its x5c chain leads to one of them, or when its kid is the JWK
	// thumbprint of one of their public keys.
	RootCertBundle string
	// SigningAlgorithms restricts the accepted JWS algorithms (for example
	// "ES256"); empty means the registry's default list.
	SigningAlgorithms []string
	// TLSCertFile and TLSKeyFile, when set, make the registry serve HTTPS
	// with that pair, so clients can verify every connection of a pull
	// (registry and realm) instead of skipping verification for all.
	TLSCertFile, TLSKeyFile string
}

// Registry is a real CNCF distribution registry owned by one test, using
// token authentication and filesystem storage in a temporary directory.
type Registry struct {
	// Addr is where the registry listens: 127.0.0.1:PORT.
	Addr string
	// ConfigPath is the registry's config.yml.
	ConfigPath string
	// LogPath is the file the registry logs to.
	LogPath string

	port int
	tls  bool // serves HTTPS
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	once sync.Once
}

// StartRegistry starts the pinned registry binary (see Tool) on a free
// 127.0.0.1 port with cfg's token authentication, and waits until GET /v2/
// answers 401 with a Bearer challenge. The registry is stopped when the test
// ends, and the tail of its log is printed if the test failed.
func StartRegistry(tb testing.TB, cfg RegistryConfig) *Registry {
	tb.Helper()
	if err := cfg.validate(); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	bin := Tool(tb, "registry")
	dir := tb.TempDir()
	storage := filepath.Join(dir, "storage")
	if err := os.Mkdir(storage, 0o755); err != nil {
		tb.Fatalf("testenv: %v", err)
	}

	// Another process may take the free port between FreePort and the bind,
	// so a failed start is retried on a new port a few times.
	var lastErr error
	for attempt := range 3 {
		r := &Registry{
			port:       cmp.Or(cfg.Port, FreePort(tb)),
			tls:        cfg.TLSCertFile != "",
			ConfigPath: filepath.Join(dir, fmt.Sprintf("config-%d.yml", attempt)),
			LogPath:    filepath.Join(dir, fmt.Sprintf("registry-%d.log", attempt)),
		}
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
		if err := writeRegistryConfig(r.ConfigPath, r.Addr, storage, cfg); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		if lastErr = r.start(bin); lastErr == nil {
			tb.Cleanup(func() {
				r.Stop()
				if tb.Failed() {
					tb.Logf("testenv: registry log (%s), last lines:\n%s", r.LogPath, tailFile(r.LogPath, 40))
				}
			})
			return r
		}
	}
	tb.Fatalf("testenv: %v", lastErr)
	return nil
}

// Host answers localhost:PORT, the name clients should use for the
// registry: image references, logins and the realm check of
// go-containerregistry all work with it.
func (r *Registry) Host() string {
	return net.JoinHostPort("localhost", strconv.Itoa(r.port))
}

// Port answers the registry's TCP port.
func (r *Registry) Port() int { return r.port }

// Log answers everything the registry has logged so far; its token
// verification failures say why at info level ("token intended for another
// audience", "token signed by untrusted key with ID").
func (r *Registry) Log() string {
	b, _ := os.ReadFile(r.LogPath)
	return string(b)
}

// Stop terminates the registry (SIGTERM, then SIGKILL if it lingers) and
// waits for it to exit. Stopping twice does nothing.
func (r *Registry) Stop() {
	r.once.Do(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
}

func (c RegistryConfig) validate() error {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"Realm", c.Realm}, {"Service", c.Service}, {"Issuer", c.Issuer},
	} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("registry config: %s is required", f.name))
		}
	}
	if c.JWKSFile == "" && c.RootCertBundle == "" {
		errs = append(errs, errors.New("registry config: one of JWKSFile and RootCertBundle is required"))
	}
	return errors.Join(errs...)
}

// writeRegistryConfig writes the registry's configuration. JSON is valid
// YAML, so encoding/json spares quoting rules and a YAML dependency.
func writeRegistryConfig(path, addr, storage string, cfg RegistryConfig) error {
	token := map[string]any{
		"realm":   cfg.Realm,
		"service": cfg.Service,
		"issuer":  cfg.Issuer,
	}
	for key, file := range map[string]string{"jwks": cfg.JWKSFile, "rootcertbundle": cfg.RootCertBundle} {
		if file == "" {
			continue
		}
		// The registry resolves relative paths against its own working
		// directory, which is not the test's.
		abs, err := filepath.Abs(file)
		if err != nil {
			return fmt.Errorf("registry config %s: %w", key, err)
		}
		token[key] = abs
	}
	if len(cfg.SigningAlgorithms) > 0 {
		token["signingalgorithms"] = cfg.SigningAlgorithms
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	httpDoc := map[string]any{
		"addr": addr,
		// A fixed secret keeps the registry from warning about a
		// random one; uploads never outlive the test.
		"secret": hex.EncodeToString(secret),
	}
	if cfg.TLSCertFile != "" {
		httpDoc["tls"] = map[string]any{"certificate": cfg.TLSCertFile, "key": cfg.TLSKeyFile}
	}
	doc := map[string]any{
		"version": "0.1",
		"log": map[string]any{
			"level":     "info",
			"formatter": "text",
		},
		"storage": map[string]any{
			"filesystem":  map[string]any{"rootdirectory": storage},
			"delete":      map[string]any{"enabled": true},
			"maintenance": map[string]any{"uploadpurging": map[string]any{"enabled": false}},
		},
		"http": httpDoc,
		"auth": map[string]any{"token": token},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode registry config: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write registry config: %w", err)
	}
	return nil
}

func (r *Registry) start(bin string) error {
	logFile, err := os.OpenFile(r.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open registry log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, "serve", r.ConfigPath)
	cmd.Dir = filepath.Dir(r.ConfigPath)
	cmd.Env = registryEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start registry: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	r.cmd, r.done = cmd, done

	client := &http.Client{Timeout: time.Second}
	if r.tls {
		// Only whether it is up: the test's clients verify the certificate.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	deadline := time.Now().Add(registryStartTimeout)
	for {
		ready, err := r.challenged(client)
		if ready {
			return nil
		}
		if err != nil { // it answered, but not as a token-auth registry
			r.Stop()
			return fmt.Errorf("registry on %s: %w\n%s", r.Addr, err, tailFile(r.LogPath, 40))
		}
		select {
		case <-done:
			return fmt.Errorf("registry on %s exited at start:\n%s", r.Addr, tailFile(r.LogPath, 40))
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Stop()
			return fmt.Errorf("registry on %s did not answer within %s:\n%s", r.Addr, registryStartTimeout, tailFile(r.LogPath, 40))
		}
	}
}

// challenged reports whether GET /v2/ answers 401 with a Bearer challenge.
// A connection error means "not yet"; any other answer is an error.
func (r *Registry) challenged(client *http.Client) (bool, error) {
	scheme := "http://"
	if r.tls {
		scheme = "https://"
	}
	resp, err := client.Get(scheme + r.Addr + "/v2/")
	if err != nil {
		return false, nil
	}
	resp.Body.Close()
	challenge := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer ") {
		return false, fmt.Errorf("GET /v2/ answered %s with WWW-Authenticate %q, want 401 with a Bearer challenge", resp.Status, challenge)
	}
	return true, nil
}

// registryEnv is the test's environment without the variables that would
// change the registry behind the config file's back: REGISTRY_* overrides
// any config key, and OTEL_* could send traces somewhere. The trace
// exporter is turned off because its default is an OTLP endpoint on a
// standard localhost port.
func registryEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REGISTRY_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
}

// tailFile answers the last n lines of the file at path.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
