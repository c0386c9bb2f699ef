package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// clientTimeout bounds one client command, so a hung registry or token
// server fails the test instead of stalling the suite.
const clientTimeout = 2 * time.Minute

// PodmanClient runs the system's podman with state private to one test:
// image storage, run directory, containers.conf, registries.conf, policy,
// and the auth file all live in temporary directories, so logins and pulled
// images never leak between tests or into the machine's own podman.
type PodmanClient struct {
	tb   testing.TB
	bin  string
	dir  string
	args []string // global flags before every subcommand
	env  []string
}

// Podman answers a podman client with isolated state. The test fails when
// podman is not installed (the Makefile installs it with apt-get).
func Podman(tb testing.TB) *PodmanClient {
	tb.Helper()
	bin, err := exec.LookPath("podman")
	if err != nil {
		tb.Fatalf("testenv: podman is not on PATH (install the podman package, e.g. apt-get install podman): %v", err)
	}
	dir := tb.TempDir()
	// podman refuses a runroot longer than 50 characters (its sockets live
	// there), and t.TempDir's names, which carry the test's name, are
	// longer; so the run directories get a short one of their own.
	run, err := os.MkdirTemp("", "podman-")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(run) })
	p := &PodmanClient{tb: tb, bin: bin, dir: dir}
	path := func(elem ...string) string { return filepath.Join(append([]string{dir}, elem...)...) }
	for _, d := range []string{"root", "tmp", "home/.config/containers", "imagetmp"} {
		if err := os.MkdirAll(path(d), 0o700); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
	}
	runroot, xdgRun := filepath.Join(run, "root"), filepath.Join(run, "xdg")
	for _, d := range []string{runroot, xdgRun} {
		if err := os.Mkdir(d, 0o700); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
	}
	files := map[string]string{
		// Root's podman would otherwise read /etc/containers; the test's own
		// files make it independent of what the machine configured.
		"containers.conf": "[engine]\nevents_logger = \"none\"\ncgroup_manager = \"cgroupfs\"\n",
		"storage.conf": fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n",
			path("root"), runroot),
		// No search registries: a short name must fail rather than reach out
		// to docker.io.
		"registries.conf": "unqualified-search-registries = []\nshort-name-mode = \"enforcing\"\n",
		// containers/image reads $HOME/.config/containers/policy.json before
		// /etc/containers/policy.json, so this one applies even where the
		// system file is missing.
		"home/.config/containers/policy.json": `{"default":[{"type":"insecureAcceptAnything"}]}` + "\n",
		// podman refuses a REGISTRY_AUTH_FILE that does not exist, so a
		// client that never logged in starts with an empty one.
		"auth.json": "{}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(path(name), []byte(content), 0o600); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
	}
	p.args = []string{
		"--root", path("root"),
		"--runroot", runroot,
		"--tmpdir", path("tmp"),
		// overlay needs kernel support this sandbox may lack; vfs always works.
		"--storage-driver", "vfs",
		"--events-backend", "none",
		"--cgroup-manager", "cgroupfs",
	}
	p.env = append(isolatedEnv(),
		"HOME="+path("home"),
		"XDG_CONFIG_HOME="+path("home/.config"),
		"XDG_RUNTIME_DIR="+xdgRun,
		"REGISTRY_AUTH_FILE="+path("auth.json"),
		"CONTAINERS_CONF="+path("containers.conf"),
		"CONTAINERS_STORAGE_CONF="+path("storage.conf"),
		"CONTAINERS_REGISTRIES_CONF="+path("registries.conf"),
		"TMPDIR="+path("imagetmp"),
	)
	return p
}

// Shell answers the environment and the podman command line (binary and
// global flags) of this client, for scripts that call podman themselves.
func (p *PodmanClient) Shell() (env []string, command string) {
	return p.env, strings.Join(append([]string{p.bin}, p.args...), " ")
}

// AuthFile answers the path of the client's auth file (REGISTRY_AUTH_FILE).
func (p *PodmanClient) AuthFile() string { return filepath.Join(p.dir, "auth.json") }

// Login runs podman login against host (plain HTTP allowed), passing the
// password on standard input so it never shows in a process list. podman
// verifies the credentials: it fetches a token with no scope and retries
// GET /v2/ with it.
func (p *PodmanClient) Login(host, user, pass string) error {
	_, err := p.run(pass, "login", "--tls-verify=false", "--username", user, "--password-stdin", host)
	return err
}

// Logout forgets the credentials stored for host.
func (p *PodmanClient) Logout(host string) error {
	_, err := p.run("", "logout", host)
	return err
}

// Pull pulls ref (a fully qualified reference such as localhost:PORT/repo:tag)
// over plain HTTP.
func (p *PodmanClient) Pull(ref string) error {
	_, err := p.run("", "pull", "--quiet", "--tls-verify=false", ref)
	return err
}

// Push pushes the local image src to the registry reference dst over plain
// HTTP.
func (p *PodmanClient) Push(src, dst string) error {
	_, err := p.run("", "push", "--quiet", "--tls-verify=false", src, dst)
	return err
}

// Tag gives the local image src the additional name dst.
func (p *PodmanClient) Tag(src, dst string) error {
	_, err := p.run("", "tag", src, dst)
	return err
}

// Run runs any podman subcommand with the client's isolated state and
// answers its combined output.
func (p *PodmanClient) Run(args ...string) (string, error) {
	return p.run("", args...)
}

func (p *PodmanClient) run(stdin string, args ...string) (string, error) {
	return runClient(p.tb.Context(), p.bin, p.dir, p.env, stdin, append(append([]string(nil), p.args...), args...))
}

// CraneClient runs the pinned crane binary with its own Docker config
// directory and home, so credentials never leak between tests.
type CraneClient struct {
	tb  testing.TB
	bin string
	dir string
	env []string
}

// Crane answers a crane client with isolated credentials. crane is built
// from the pinned version on first use (see Tool).
func Crane(tb testing.TB) *CraneClient {
	tb.Helper()
	bin := Tool(tb, "crane")
	dir := tb.TempDir()
	for _, d := range []string{"docker", "home", "xdg-run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
	}
	// crane's keychain falls back to $HOME/.docker, REGISTRY_AUTH_FILE and
	// podman's auth.json under XDG dirs; all of them point into the test's
	// directory (REGISTRY_AUTH_FILE is dropped by isolatedEnv).
	env := append(isolatedEnv(),
		"DOCKER_CONFIG="+filepath.Join(dir, "docker"),
		"HOME="+filepath.Join(dir, "home"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "home", ".config"),
		"XDG_RUNTIME_DIR="+filepath.Join(dir, "xdg-run"),
	)
	return &CraneClient{tb: tb, bin: bin, dir: dir, env: env}
}

// ConfigDir answers the client's DOCKER_CONFIG directory.
func (c *CraneClient) ConfigDir() string { return filepath.Join(c.dir, "docker") }

// Login stores credentials for host. Unlike podman, crane does not contact
// the registry here: wrong credentials surface on the next pull or push.
func (c *CraneClient) Login(host, user, pass string) error {
	_, err := c.run(pass, "auth", "login", host, "--username", user, "--password-stdin")
	return err
}

// Logout forgets the credentials stored for host.
func (c *CraneClient) Logout(host string) error {
	_, err := c.run("", "auth", "logout", host)
	return err
}

// Pull downloads ref as a tarball into the client's directory.
func (c *CraneClient) Pull(ref string) error {
	out, err := os.MkdirTemp(c.dir, "pull-")
	if err != nil {
		return err
	}
	_, err = c.run("", "pull", "--insecure", ref, filepath.Join(out, "image.tar"))
	return err
}

// Manifest answers ref's manifest as the registry serves it.
func (c *CraneClient) Manifest(ref string) ([]byte, error) {
	out, err := c.runStdout("manifest", "--insecure", ref)
	return []byte(out), err
}

// Digest answers ref's manifest digest (sha256:...).
func (c *CraneClient) Digest(ref string) (string, error) {
	out, err := c.runStdout("digest", "--insecure", ref)
	return strings.TrimSpace(out), err
}

// Push pushes a new single-layer image to ref: `crane append` of a small
// tarball of random bytes generated now, on an empty base.
func (c *CraneClient) Push(ref string) error {
	layer, err := randomLayerTar(c.dir)
	if err != nil {
		return err
	}
	_, err = c.run("", "append", "--insecure", "--new_layer", layer, "--new_tag", ref)
	return err
}

// Run runs any crane subcommand with the client's isolated credentials and
// answers its combined output.
func (c *CraneClient) Run(args ...string) (string, error) {
	return c.run("", args...)
}

func (c *CraneClient) run(stdin string, args ...string) (string, error) {
	return runClient(c.tb.Context(), c.bin, c.dir, c.env, stdin, args)
}

// runStdout is run for commands whose standard output is the answer; their
// standard error still goes into a returned error.
func (c *CraneClient) runStdout(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(c.tb.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("crane %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.String(), nil
}

// PushRandomImage writes a new random single-layer image to ref with
// go-containerregistry in-process, exchanging user and pass (Basic) for a
// token at the registry's realm, and answers the image's manifest digest
// (sha256:...). Empty user and pass push anonymously. ref may name a
// localhost registry over plain HTTP. A refused push is an error, not a test
// failure, so tests can assert denials.
func PushRandomImage(tb testing.TB, ref, user, pass string) (string, error) {
	tb.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", ref, err)
	}
	img, err := random.Image(512, 1)
	if err != nil {
		return "", fmt.Errorf("make random image: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("digest random image: %w", err)
	}
	ctx, cancel := context.WithTimeout(tb.Context(), clientTimeout)
	defer cancel()
	opts := []remote.Option{remote.WithContext(ctx)}
	if user != "" || pass != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
	}
	if err := remote.Write(r, img, opts...); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return digest.String(), nil
}

// runClient runs bin with args in dir and env, feeding stdin, and answers its
// combined output; a failure's error carries that output.
func runClient(ctx context.Context, bin, dir string, env []string, stdin string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(redactArgs(args), " "), err, out)
	}
	return string(out), nil
}

// redactArgs hides the value after --password or -p in an error message.
func redactArgs(args []string) []string {
	out := append([]string(nil), args...)
	for i := range len(out) - 1 {
		if out[i] == "--password" || out[i] == "-p" {
			out[i+1] = "***"
		}
	}
	return out
}

// isolatedEnv is the test's environment without the variables through which
// container tools find credentials and configuration, so only what a client
// sets applies.
func isolatedEnv() []string {
	drop := []string{
		"DOCKER_CONFIG=", "REGISTRY_AUTH_FILE=", "HOME=", "XDG_CONFIG_HOME=", "XDG_RUNTIME_DIR=",
		"CONTAINERS_CONF=", "CONTAINERS_STORAGE_CONF=", "CONTAINERS_REGISTRIES_CONF=",
		"CONTAINERS_REGISTRIES_CONF_DIR=", "TMPDIR=",
	}
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, prefix := range drop {
			if strings.HasPrefix(kv, prefix) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

// randomLayerTar writes a tarball holding one file of random bytes into dir
// and answers its path; every call makes a layer with a new digest.
func randomLayerTar(dir string) (string, error) {
	content := make([]byte, 256)
	_, _ = rand.Read(content)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "random.bin", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		return "", err
	}
	if _, err := tw.Write(content); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "layer-*.tar")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}
