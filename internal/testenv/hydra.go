package testenv

import (
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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

// ORY Hydra is the real OIDC provider the federation tests trade tokens
// from: a certified OpenID provider that issues JWT access tokens from the
// client-credentials grant, so a test gets a signed token with iss, aud,
// sub, exp, iat and nbf without a browser, and its admin API rotates the
// signing key. Its go.mod has replace directives, so `go install
// pkg@version` refuses it; it is built as the main module from a copy of
// its module source instead (see buildHydra).
const (
	// HydraModule is Hydra's module path.
	HydraModule = "github.com/ory/hydra/v2"
	// HydraVersion is the pinned version of HydraModule.
	HydraVersion = "v2.3.0"
	// hydraVersionVar is stamped with HydraVersion by -ldflags, which the
	// binary's build info then records: a main module built from a copy
	// has no version of its own to check.
	hydraVersionVar = HydraModule + "/driver/config.Version"
	hydraTags       = "sqlite,sqlite_omit_load_extension"
)

// hydraStartTimeout bounds how long Hydra may take to answer its health
// check.
const hydraStartTimeout = 60 * time.Second

// HydraBinary answers the path of the pinned Hydra, building it into
// <module root>/bin/tools/hydra the first time any test on this machine
// asks for it (about two minutes cold; `make tools` does it ahead).
func HydraBinary(tb testing.TB) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	dir := filepath.Join(root, filepath.FromSlash(ToolsDir))
	bin := filepath.Join(dir, "hydra")
	toolMu.Lock()
	defer toolMu.Unlock()
	if isPinnedHydra(bin) {
		return bin
	}
	if err := buildHydra(dir, tb.Logf); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return bin
}

// isPinnedHydra reports whether path is Hydra built by buildHydra at
// HydraVersion.
func isPinnedHydra(path string) bool {
	info, err := buildinfo.ReadFile(path)
	if err != nil || info.Path != HydraModule {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-ldflags" && strings.Contains(s.Value, hydraVersionVar+"="+HydraVersion) {
			return true
		}
	}
	return false
}

// buildHydra builds the pinned Hydra into dir/hydra under the tools lock,
// as installTool does for the others: download the module, copy it
// writable, drop the replace of hydra-client-go (a directory inside the
// repository that the module zip does not carry), build with SQLite for
// DSN=memory.
func buildHydra(dir string, logf func(string, ...any)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create tools dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("open tools lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock tools dir: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file unlocks too
	bin := filepath.Join(dir, "hydra")
	if isPinnedHydra(bin) {
		return nil
	}
	logf("testenv: building %s@%s into %s (once per machine; `make tools` does it ahead)", HydraModule, HydraVersion, dir)
	tmp, err := os.MkdirTemp(dir, ".build-hydra-")
	if err != nil {
		return fmt.Errorf("create build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	goBin, err := goCommand()
	if err != nil {
		return err
	}
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	run := func(wd string, args ...string) ([]byte, error) {
		cmd := exec.Command(goBin, args...)
		cmd.Dir, cmd.Env = wd, env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, errOut.Bytes())
		}
		return out.Bytes(), nil
	}
	out, err := run(tmp, "mod", "download", "-json", HydraModule+"@"+HydraVersion)
	if err != nil {
		return err
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return fmt.Errorf("go mod download %s: no module directory in %s", HydraModule, out)
	}
	src := filepath.Join(tmp, "src")
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return fmt.Errorf("copy hydra source: %w", err)
	}
	if err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	}); err != nil {
		return fmt.Errorf("make hydra source writable: %w", err)
	}
	if _, err := run(src, "mod", "edit", "-dropreplace", "github.com/ory/hydra-client-go/v2"); err != nil {
		return err
	}
	built := filepath.Join(tmp, "hydra")
	if _, err := run(src, "build", "-buildvcs=false", "-tags", hydraTags,
		"-ldflags", "-X "+hydraVersionVar+"="+HydraVersion, "-o", built, "."); err != nil {
		return err
	}
	if err := os.Rename(built, bin); err != nil {
		return fmt.Errorf("install hydra: %w", err)
	}
	if !isPinnedHydra(bin) {
		return fmt.Errorf("built %s does not carry the build info of %s@%s", bin, HydraModule, HydraVersion)
	}
	return nil
}

// Hydra is a running ORY Hydra on loopback, in memory.
type Hydra struct {
	// Issuer is its issuer URL, exactly as its tokens' iss.
	Issuer string
	// Admin is the base URL of its admin API.
	Admin string
	// LogPath is the file it logs to.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

var (
	sharedHydraOnce sync.Once
	sharedHydra     *Hydra
	sharedHydraErr  error
)

// SharedHydra answers the one Hydra of this test binary, starting it on
// first use; it lives until the binary exits. Tests give their clients
// names of their own; a test that rotates keys starts its own (StartHydra).
func SharedHydra(tb testing.TB) *Hydra {
	tb.Helper()
	bin := HydraBinary(tb)
	sharedHydraOnce.Do(func() {
		sharedHydra, sharedHydraErr = startHydra(bin, tb.TempDir, true)
	})
	if sharedHydraErr != nil {
		tb.Fatalf("testenv: %v", sharedHydraErr)
	}
	return sharedHydra
}

// StartHydra starts a Hydra of the test's own, stopped when it ends.
func StartHydra(tb testing.TB) *Hydra {
	tb.Helper()
	h, err := startHydra(HydraBinary(tb), tb.TempDir, false)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		h.Stop()
		if tb.Failed() {
			tb.Logf("testenv: hydra log (%s), last lines:\n%s", h.LogPath, tailFile(h.LogPath, 30))
		}
	})
	return h
}

func startHydra(bin string, tempDir func() string, shared bool) (*Hydra, error) {
	dir := tempDir()
	if shared {
		// The test's TempDir goes when the test ends; the shared Hydra
		// lives on.
		d, err := os.MkdirTemp("", "testenv-hydra-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	var lastErr error
	for attempt := range 3 {
		pub, adm := freePort(), freePort()
		if pub == 0 || adm == 0 {
			return nil, fmt.Errorf("hydra: no free port")
		}
		h := &Hydra{
			Issuer:  fmt.Sprintf("http://127.0.0.1:%d/", pub),
			Admin:   fmt.Sprintf("http://127.0.0.1:%d", adm),
			LogPath: filepath.Join(dir, fmt.Sprintf("hydra-%d.log", attempt)),
			done:    make(chan struct{}),
		}
		log, err := os.Create(h.LogPath)
		if err != nil {
			return nil, err
		}
		h.cmd = exec.Command(bin, "serve", "all", "--dev")
		h.cmd.Env = append(os.Environ(), "DSN=memory", "SECRETS_SYSTEM=testenv-hydra-system-secret-0123456789",
			"STRATEGIES_ACCESS_TOKEN=jwt", "URLS_SELF_ISSUER="+h.Issuer,
			"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT="+strconv.Itoa(pub),
			"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT="+strconv.Itoa(adm),
			"LOG_LEVEL=warn", "SQA_OPT_OUT=true")
		h.cmd.Stdout, h.cmd.Stderr = log, log
		// A shared Hydra outlives every test; it must not outlive the
		// test binary.
		h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := h.cmd.Start(); err != nil {
			log.Close()
			return nil, fmt.Errorf("start hydra: %w", err)
		}
		log.Close()
		go func() { _ = h.cmd.Wait(); close(h.done) }()
		if lastErr = h.waitReady(); lastErr == nil {
			return h, nil
		}
		h.Stop()
		lastErr = fmt.Errorf("%w\nhydra log:\n%s", lastErr, tailFile(h.LogPath, 30))
	}
	return nil, lastErr
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (h *Hydra) waitReady() error {
	deadline := time.Now().Add(hydraStartTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-h.done:
			return fmt.Errorf("hydra exited during start")
		default:
		}
		ok := true
		for _, u := range []string{h.Issuer + ".well-known/openid-configuration", h.Admin + "/health/ready"} {
			resp, err := http.Get(u)
			if err != nil {
				ok = false
				break
			}
			resp.Body.Close()
			ok = ok && resp.StatusCode == http.StatusOK
		}
		if ok {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("hydra did not become ready within %s", hydraStartTimeout)
}

// Stop terminates Hydra and waits for it. Stopping twice does nothing.
func (h *Hydra) Stop() {
	h.once.Do(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.done
		}
	})
}

// Client is an OAuth2 client registered at Hydra for the
// client-credentials grant; its tokens' sub is its ID.
type Client struct {
	ID, Secret string
	hydra      *Hydra
}

// CreateClient registers a client whose tokens are JWTs for audience,
// living lifespan (0: Hydra's default of an hour).
func (h *Hydra) CreateClient(tb testing.TB, id, audience string, lifespan time.Duration) *Client {
	tb.Helper()
	c := &Client{ID: id, Secret: "secret-" + strconv.FormatInt(time.Now().UnixNano(), 36), hydra: h}
	body := map[string]any{
		"client_id": id, "client_secret": c.Secret, "grant_types": []string{"client_credentials"},
		"audience": []string{audience}, "token_endpoint_auth_method": "client_secret_basic", "access_token_strategy": "jwt",
	}
	if lifespan > 0 {
		body["client_credentials_grant_access_token_lifespan"] = lifespan.String()
	}
	h.admin(tb, http.MethodPost, "/admin/clients", body, http.StatusCreated)
	return c
}

// Token answers a fresh access token (a JWT) for audience.
func (c *Client) Token(tb testing.TB, audience string) string {
	tb.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "audience": {audience}}
	req, err := http.NewRequest(http.MethodPost, c.hydra.Issuer+"oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("hydra token: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ans struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &ans) != nil || ans.AccessToken == "" {
		tb.Fatalf("hydra token: %d %s", resp.StatusCode, raw)
	}
	return ans.AccessToken
}

// RotateKey adds a new key to the set Hydra signs access tokens with; the
// tokens it issues next are signed with it. It answers the new kid.
func (h *Hydra) RotateKey(tb testing.TB) string {
	tb.Helper()
	kid := "rotated-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	raw := h.admin(tb, http.MethodPost, "/admin/keys/hydra.jwt.access-token", map[string]any{"alg": "RS256", "kid": kid, "use": "sig"}, http.StatusCreated)
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		tb.Fatalf("hydra rotate key: %s", raw)
	}
	return set.Keys[0].Kid
}

func (h *Hydra) admin(tb testing.TB, method, path string, body any, want int) []byte {
	tb.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(method, h.Admin+path, bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("hydra %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		tb.Fatalf("hydra %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return raw
}
