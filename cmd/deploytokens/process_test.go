package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds bin/deploytokens once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deploytokens-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "deploytokens")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// process is deploytokens running as its own process.
type process struct {
	cmd  *exec.Cmd
	url  string
	logs *testenv.LogBuffer
	done chan error
}

func startProcess(t *testing.T, dataDir, admin string, extraEnv ...string) *process {
	t.Helper()
	port := testenv.FreePort(t)
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(),
		"DEPLOYTOKENS_LISTEN="+fmt.Sprintf("127.0.0.1:%d", port),
		"DEPLOYTOKENS_DATA_DIR="+dataDir,
		"DEPLOYTOKENS_ADMIN_TOKEN="+admin,
		"DEPLOYTOKENS_SHUTDOWN_TIMEOUT=20s",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	p := &process{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &testenv.LogBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if strings.Contains(p.logs.String(), admin) {
			t.Error("the admin token appears in the process output")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.url + "/-/health")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSIGTERMDrains: a request in flight when SIGTERM arrives completes,
// then the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	admin, _ := tokens.Generate(tokens.PATSecret)
	p := startProcess(t, t.TempDir(), admin.Reveal())
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"path":"slow","namespace_path":"tanuki"}`
	fmt.Fprintf(conn, "POST /api/v4/projects HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", admin.Reveal(), len(body), body[:10])
	time.Sleep(200 * time.Millisecond) // the server is now reading the body
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	io.WriteString(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v\n%s", err, p.logs.String())
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("in-flight request answered %d", resp.StatusCode)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}

// TestSIGHUPWithoutTLSKeepsServing: SIGHUP (systemctl reload, the unit's
// ExecReload) reloads the TLS pair; a server without TLS has nothing to
// reload and must go on serving, not die of Go's default for the signal,
// which systemd would take for a clean exit and not restart. Found in
// review.
func TestSIGHUPWithoutTLSKeepsServing(t *testing.T) {
	admin, _ := tokens.Generate(tokens.PATSecret)
	p := startProcess(t, t.TempDir(), admin.Reveal())
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("the server ended on SIGHUP: %v\n%s", err, p.logs.String())
	case <-time.After(500 * time.Millisecond):
	}
	resp, err := http.Get(p.url + "/-/health")
	if err != nil {
		t.Fatalf("after SIGHUP: %v\n%s", err, p.logs.String())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health after SIGHUP: %d", resp.StatusCode)
	}
	if !strings.Contains(p.logs.String(), "nothing to reload") {
		t.Errorf("SIGHUP was not noted in the log:\n%s", p.logs.String())
	}
}

// TestKill9KeepsAcknowledgedWrites: every token whose create was answered
// survives kill -9 of the embedded store's process.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	admin, _ := tokens.Generate(tokens.PATSecret)
	dir := t.TempDir()
	p := startProcess(t, dir, admin.Reveal())
	post := func(base, path, body string) int {
		req, _ := http.NewRequest("POST", base+"/api/v4"+path, strings.NewReader(body))
		req.Header.Set("PRIVATE-TOKEN", admin.Reveal())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(p.url, "/projects", `{"path":"app","namespace_path":"tanuki"}`); st != 201 {
		t.Fatalf("project: %d", st)
	}
	acked := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if post(p.url, "/projects/tanuki%2Fapp/deploy_tokens", fmt.Sprintf(`{"name":"t%d","scopes":["read_registry"]}`, i)) != 201 {
				return
			}
			acked++
		}
	}()
	time.Sleep(700 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	<-p.done
	p.done <- nil
	if acked == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}
	q := startProcess(t, dir, admin.Reveal())
	req, _ := http.NewRequest("GET", q.url+"/api/v4/projects/tanuki%2Fapp/deploy_tokens?per_page=1", nil)
	req.Header.Set("PRIVATE-TOKEN", admin.Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var total int
	fmt.Sscan(resp.Header.Get("X-Total"), &total)
	if total < acked {
		t.Fatalf("%d tokens acknowledged, %d survived kill -9", acked, total)
	}
	t.Logf("%d acknowledged writes, %d stored after kill -9", acked, total)
}
