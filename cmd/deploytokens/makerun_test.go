package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// TestMakeRun runs scripts/run.sh (what make run runs) as a terminal would:
// the request log goes to a file, not under the banner; a second run on the
// same data dir says another is running; Ctrl-C (SIGINT to the whole
// process group) stops both servers and exits 0.
func TestMakeRun(t *testing.T) {
	script, err := filepath.Abs("../../scripts/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	// run.sh runs bin/deploytokens and bin/tools/registry of its working
	// directory: a checkout's layout, made of the test's builds.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin", "tools"), 0o755)
	os.Symlink(binary(t), filepath.Join(dir, "bin", "deploytokens"))
	os.Symlink(testenv.Tool(t, "registry"), filepath.Join(dir, "bin", "tools", "registry"))
	data := filepath.Join(dir, "data")

	// A terminal's foreground job gets SIGINT at its default; a test run
	// from a background job inherits it ignored, and bash cannot trap a
	// signal ignored at entry. Notify makes the runtime catch it, and exec
	// resets caught signals to the default in the child.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)

	start := func(listen, registry string) (*exec.Cmd, *testenv.LogBuffer, chan error) {
		cmd := exec.Command("bash", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DEPLOYTOKENS_DATA_DIR="+data, "DEPLOYTOKENS_LISTEN="+listen, "RUN_REGISTRY_ADDR="+registry)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out := &testenv.LogBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
		})
		return cmd, out, done
	}
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	listen, registry := addr(), addr()
	cmd, out, done := start(listen, registry)
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(out.String(), "Ctrl-C stops both"); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("run.sh ended: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner:\n%s", out.String())
		}
	}
	if resp, err := http.Get("http://" + listen + "/-/health"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	t.Run("a second run on the same data dir", func(t *testing.T) {
		_, out2, done2 := start(addr(), addr())
		select {
		case err := <-done2:
			if err == nil || !strings.Contains(out2.String(), "another deploytokens is running on this data dir") {
				t.Fatalf("exit %v:\n%s", err, out2.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("the second run did not stop:\n%s", out2.String())
		}
	})
	t.Run("a second run on the same port", func(t *testing.T) {
		_, out2, done2 := start(listen, addr())
		if err := <-done2; err == nil || !strings.Contains(out2.String(), "already in use (another make run?") {
			t.Fatalf("exit %v:\n%s", err, out2.String())
		}
	})

	// Let the log writer flush (it buffers up to a second).
	time.Sleep(1500 * time.Millisecond)
	if strings.Contains(out.String(), "msg=request") {
		t.Errorf("the request log is in the terminal:\n%s", out.String())
	}
	if b, _ := os.ReadFile(filepath.Join(data, "deploytokens.log")); !strings.Contains(string(b), "path=/-/health") {
		t.Errorf("the request log file lacks the requests:\n%s", b)
	}

	// Ctrl-C: the terminal signals the whole foreground process group.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "make run: stopped") {
			t.Fatalf("after Ctrl-C: %v\n%s", err, out.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("run.sh did not stop on Ctrl-C:\n%s", out.String())
	}
	for _, a := range []string{listen, registry} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still answers after Ctrl-C", a)
		}
	}
}
