package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// TestTLSRegistryFlow: the server as its own process with built-in TLS,
// behind a registry that also speaks TLS, both certified by a CA made for
// the test. An image is pushed, then podman, trusting only that CA (its
// cert dir), logs in with a deploy token and pulls, fetching its token from
// the realm https://localhost:PORT/jwt/auth. Then the server's pair is
// replaced by one from another CA and SIGHUP sent: the next connection gets
// the new certificate, and podman fails at the realm until it trusts the new
// CA too, which proves the realm's certificate is what it checks.
func TestTLSRegistryFlow(t *testing.T) {
	ca := newTestCA(t, "deploytokens test CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	ca.issue(t, 100, certFile, keyFile)
	regCert, regKey := filepath.Join(dir, "registry.pem"), filepath.Join(dir, "registry-key.pem")
	ca.issue(t, 200, regCert, regKey)

	admin, _ := tokens.Generate(tokens.PATSecret)
	port := testenv.FreePort(t)
	base := fmt.Sprintf("https://localhost:%d", port)
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("DEPLOYTOKENS_LISTEN=127.0.0.1:%d", port),
		"DEPLOYTOKENS_DATA_DIR="+filepath.Join(dir, "data"),
		"DEPLOYTOKENS_ADMIN_TOKEN="+admin.Reveal(),
		"DEPLOYTOKENS_EXTERNAL_URL="+base,
		"DEPLOYTOKENS_TLS_CERT="+certFile, "DEPLOYTOKENS_TLS_KEY="+keyFile,
	)
	logs := &testenv.LogBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if strings.Contains(logs.String(), admin.Reveal()) {
			t.Error("the admin token appears in the process output")
		}
	})

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
	}}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := client.Get(base + "/-/health")
		if err == nil {
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("health answered over %s, want HTTP/2", resp.Proto)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %v\n%s", err, logs.String())
		}
	}
	call := func(method, path string, body any, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+"/api/v4"+path, bytes.NewReader(b))
		req.Header.Set("PRIVATE-TOKEN", admin.Reveal())
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, rb)
		}
		if out != nil {
			json.Unmarshal(rb, out)
		}
	}
	resp, err := client.Get(base + "/-/jwks")
	if err != nil {
		t.Fatal(err)
	}
	jwksJSON, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	jwksFile := filepath.Join(dir, "jwks.json")
	os.WriteFile(jwksFile, jwksJSON, 0o600)
	reg := testenv.StartRegistry(t, testenv.RegistryConfig{
		Realm: base + "/jwt/auth", Service: "container_registry", Issuer: "deploytokens",
		JWKSFile: jwksFile, TLSCertFile: regCert, TLSKeyFile: regKey,
	})

	call("POST", "/projects", map[string]any{"path": "app", "namespace_path": "tanuki"}, nil)
	ref := reg.Host() + "/tanuki/app:v1"
	img, _ := random.Image(256, 1)
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img, remote.WithTransport(client.Transport),
		remote.WithAuth(&authn.Basic{Username: "root", Password: admin.Reveal()})); err != nil {
		t.Fatalf("push over TLS: %v\n%s", err, reg.Log())
	}
	var dt struct {
		Username string `json:"username"`
		Token    string `json:"token"`
	}
	call("POST", "/projects/tanuki%2Fapp/deploy_tokens", map[string]any{"name": "puller", "scopes": []string{"read_registry"}}, &dt)

	podman := testenv.Podman(t)
	certDir := filepath.Join(dir, "certs.d")
	os.MkdirAll(certDir, 0o755)
	os.WriteFile(filepath.Join(certDir, "ca.crt"), ca.pem, 0o644)
	login := func() (string, error) {
		return podman.Run("login", "--cert-dir", certDir, "-u", dt.Username, "-p", dt.Token, reg.Host())
	}
	if out, err := login(); err != nil {
		t.Fatalf("podman login over TLS: %v\n%s\nregistry:\n%s\nserver:\n%s", err, out, reg.Log(), logs.String())
	}
	if out, err := podman.Run("pull", "--quiet", "--cert-dir", certDir, ref); err != nil {
		t.Fatalf("podman pull over TLS: %v\n%s", err, out)
	}

	// A new pair from another CA, then SIGHUP.
	ca2 := newTestCA(t, "renewed CA")
	ca2.issue(t, 101, certFile, keyFile)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	pool2 := x509.NewCertPool()
	pool2.AppendCertsFromPEM(ca2.pem)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool2, ServerName: "localhost"})
		if err == nil {
			serial := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
			conn.Close()
			if serial != 101 {
				t.Fatalf("serial %d after SIGHUP, want 101", serial)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new certificate is not served after SIGHUP: %v\n%s", err, logs.String())
		}
	}
	// The server's log is buffered: it shows within a second or so.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "TLS certificate reloaded"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the reload is not logged:\n%s", logs.String())
		}
	}
	podman.Run("logout", reg.Host())
	if out, err := login(); err == nil || !strings.Contains(out, "localhost:"+fmt.Sprint(port)) || !strings.Contains(out, "x509") {
		t.Fatalf("podman trusting only the old CA logged in at the realm (%v):\n%s", err, out)
	}
	os.WriteFile(filepath.Join(certDir, "renewed-ca.crt"), ca2.pem, 0o644)
	if out, err := login(); err != nil {
		t.Fatalf("podman login after the renewal: %v\n%s", err, out)
	}
}
