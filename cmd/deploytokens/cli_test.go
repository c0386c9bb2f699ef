package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/version"
	"github.com/deploytokens/deploytokens/tokens"
)

// TestSubcommandHelp: every command answers --help on stdout with its own
// flags, the variables it reads and its exit codes, and exits 0.
func TestSubcommandHelp(t *testing.T) {
	tests := []struct {
		args         []string
		want, reject []string
	}{
		{[]string{"--help"}, []string{"serve", "keys", "ci-env", "version", "health"}, nil},
		{[]string{"help"}, []string{"serve", "keys", "ci-env", "version", "health"}, nil},
		{[]string{"serve", "--help"}, []string{"--listen", "DEPLOYTOKENS_LISTEN", "--tls-cert", "DEPLOYTOKENS_TLS_KEY", "Exit codes", "SIGTERM"}, nil},
		{[]string{"keys", "--help"}, []string{"jwks", "cert", "rotate", "--from", "Exit codes"}, nil},
		{[]string{"keys", "jwks", "--help"}, []string{"--from", "--data-dir", "DEPLOYTOKENS_DATA_DIR", "--kid-format", "Exit codes"}, []string{"--listen", "--git-max-concurrent", "--log-format"}},
		{[]string{"keys", "cert", "-h"}, []string{"--from", "--redis-url", "Exit codes"}, []string{"--listen"}},
		{[]string{"keys", "rotate", "--help"}, []string{"--rotation-lead", "--secret-file", "Exit codes"}, []string{"--from", "--listen"}},
		{[]string{"ci-env", "--help"}, []string{"--url", "--project", "--exec", "DEPLOYTOKENS_TOKEN", "DEPLOYTOKENS_URL", "CI_PROJECT_PATH", "dotenv", "vars=$(", "Exit codes"}, nil},
		{[]string{"version", "--help"}, []string{"git describe", "Exit codes"}, nil},
		{[]string{"health", "--help"}, []string{"--url", "--timeout", "DEPLOYTOKENS_LISTEN", "Exit codes"}, nil},
		{[]string{"credential-provider", "--help"}, []string{"--url", "--username", "DEPLOYTOKENS_USERNAME", "serviceAccountTokenAudience", "Exit codes"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(t.Context(), tt.args, func(string) string { return "" }, &out, &errb)
			if code != 0 || errb.Len() != 0 {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
			for _, s := range tt.want {
				if !strings.Contains(out.String(), s) {
					t.Errorf("help lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tt.reject {
				if strings.Contains(out.String(), s) {
					t.Errorf("help lists %q, which is not this command's:\n%s", s, out.String())
				}
			}
		})
	}
}

// TestBadCommandLine: a bad flag or value is said once, naming the flag and
// its variable, without the whole usage, and exits 2.
func TestBadCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"duration without a unit", []string{"serve", "--token-lifetime", "5"}, []string{`--token-lifetime (DEPLOYTOKENS_TOKEN_LIFETIME): "5" is not a valid duration`}},
		{"not an integer", []string{"serve", "--auth-max-failures", "many"}, []string{"--auth-max-failures", "integer"}},
		{"unknown flag", []string{"serve", "--bogus"}, []string{"unknown flag --bogus", "serve --help"}},
		{"keys: a serve-only flag", []string{"keys", "jwks", "--listen", ":1"}, []string{"unknown flag --listen", "keys jwks --help"}},
		{"keys without a command", []string{"keys"}, []string{"missing jwks, cert or rotate"}},
		{"ci-env: a command without --exec", []string{"ci-env", "--url", "http://x", "make"}, []string{`"make"`, "--exec"}},
		{"ci-env: --exec without a command", []string{"ci-env", "--exec"}, []string{"--exec needs a command"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(t.Context(), tt.args, func(string) string { return "" }, &out, &errb)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if lines := strings.Count(strings.TrimSpace(errb.String()), "\n") + 1; lines != 1 || out.Len() != 0 {
				t.Errorf("want one line on stderr and nothing on stdout, got %d lines:\n%s%s", lines, errb.String(), out.String())
			}
			for _, s := range tt.want {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q: %s", s, errb.String())
				}
			}
		})
	}
}

// TestVersionCommand: version and --version print the running build's
// version, the one /api/v4/version answers.
func TestVersionCommand(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		if code := run(t.Context(), args, func(string) string { return "" }, &out, &out); code != 0 ||
			!strings.HasPrefix(out.String(), "deploytokens "+version.Get().Version+" (revision ") {
			t.Errorf("%v: exit %d, %q", args, code, out.String())
		}
	}
}

// TestVersionStamped: a build stamped as the Makefile stamps it (git
// describe, through -ldflags -X) reports that version.
func TestVersionStamped(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	const flag = "-X github.com/deploytokens/deploytokens/internal/version.stamped="
	if !bytes.Contains(mk, []byte(flag)) {
		t.Fatalf("the Makefile does not stamp the version with %s", flag)
	}
	bin := filepath.Join(t.TempDir(), "deploytokens")
	if out, err := exec.Command("go", "build", "-ldflags", flag+"v0.0.0-test-1-gabcdef", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "deploytokens v0.0.0-test-1-gabcdef ") {
		t.Fatalf("--version: %v %q", err, out)
	}
}

// TestStartChecksBeforeSideEffects: a taken port or a certificate that does
// not load stops a first start before the data dir, secret or admin token
// is created, with a message naming the setting or file.
func TestStartChecksBeforeSideEffects(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate\n"), 0o600)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"listen port taken", map[string]string{"DEPLOYTOKENS_LISTEN": taken.Addr().String()}, []string{"--listen", "address already in use"}},
		{"metrics port taken", map[string]string{"DEPLOYTOKENS_METRICS_LISTEN": taken.Addr().String()}, []string{"--metrics-listen"}},
		{"certificate missing", map[string]string{"DEPLOYTOKENS_TLS_CERT": missing, "DEPLOYTOKENS_TLS_KEY": garbage}, []string{"--tls-cert", missing}},
		{"certificate garbage", map[string]string{"DEPLOYTOKENS_TLS_CERT": garbage, "DEPLOYTOKENS_TLS_KEY": garbage}, []string{"--tls-cert " + garbage}},
		{"key without certificate", map[string]string{"DEPLOYTOKENS_TLS_KEY": garbage}, []string{"--tls-cert", "DEPLOYTOKENS_TLS_KEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			env := map[string]string{"DEPLOYTOKENS_DATA_DIR": data, "DEPLOYTOKENS_LISTEN": "127.0.0.1:0"}
			for k, v := range tt.env {
				env[k] = v
			}
			var out, errb bytes.Buffer
			code := run(t.Context(), []string{"serve"}, func(k string) string { return env[k] }, &out, &errb)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, s := range tt.want {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q: %s", s, errb.String())
				}
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("the data dir was created before the start failed (%v)", err)
			}
		})
	}
}

// TestSecondServerOnOneDataDir: a second server on the data dir of a
// running one says so and what to do, instead of a bare lock timeout.
func TestSecondServerOnOneDataDir(t *testing.T) {
	s := startServer(t, nil)
	env := map[string]string{"DEPLOYTOKENS_DATA_DIR": s.cfg.DataDir, "DEPLOYTOKENS_LISTEN": "127.0.0.1:0", "DEPLOYTOKENS_ADMIN_TOKEN": s.AdminToken}
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"serve"}, func(k string) string { return env[k] }, &out, &errb)
	for _, s := range []string{filepath.Join(s.cfg.DataDir, "deploytokens.db"), "another deploytokens is running", "stop it"} {
		if !strings.Contains(errb.String(), s) {
			t.Errorf("stderr lacks %q: %s", s, errb.String())
		}
	}
	if code != 1 {
		t.Errorf("exit %d", code)
	}
}

// TestKeysFrom: keys jwks and keys cert ask a running server with --from,
// in either flag form, while its embedded store is locked.
func TestKeysFrom(t *testing.T) {
	s := startServer(t, nil)
	tests := []struct {
		args []string
		want []byte
	}{
		{[]string{"keys", "jwks", "--from", s.URL}, s.app.signer.JWKS()},
		{[]string{"keys", "cert", "--from", s.URL}, s.app.signer.CertificatesPEM()},
		{[]string{"keys", "cert", "--from=" + s.URL + "/"}, s.app.signer.CertificatesPEM()},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:3], " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(t.Context(), tt.args, func(k string) string { return map[string]string{"DEPLOYTOKENS_DATA_DIR": s.cfg.DataDir}[k] }, &out, &errb)
			if code != 0 || !bytes.Equal(bytes.TrimSpace(out.Bytes()), bytes.TrimSpace(tt.want)) {
				t.Fatalf("exit %d: %s\nstdout %q\nwant %q", code, errb.String(), out.String(), tt.want)
			}
		})
	}
}

// TestVersionEverywhere: the API's /version and /metadata (with a token, as
// GitLab asks) and the start-up log line carry the version the binary
// prints.
func TestVersionEverywhere(t *testing.T) {
	s := startServer(t, nil)
	want := version.Get().Version
	if r := s.api(t, "GET", "/version", "", nil); r.Status != 401 {
		t.Errorf("/version without a token: %d", r.Status)
	}
	for _, path := range []string{"/version", "/metadata"} {
		var v struct{ Version, Revision string }
		s.mustAPI(t, 200, "GET", path, s.AdminToken, nil, &v)
		if v.Version != want || v.Revision == "" {
			t.Errorf("%s: %+v, want version %q", path, v, want)
		}
	}
	admin, _ := tokens.Generate(tokens.PATSecret)
	p := startProcess(t, t.TempDir(), admin.Reveal())
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.logs.String(), `msg="deploytokens listening" version=`+want); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the start-up line lacks the version:\n%s", p.logs.String())
		}
	}
}
