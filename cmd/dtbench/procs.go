package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// child is a process dtbench started and must stop, and where it serves:
// addr, and for the server metricsAddr (DEPLOYTOKENS_METRICS_LISTEN).
type child struct {
	name, logPath     string
	cmd               *exec.Cmd
	done              chan struct{}
	addr, metricsAddr string
}

// startChild starts bin with args and env (added to dtbench's own), its
// output going to logPath.
func startChild(name, bin string, args, env []string, logPath string) (*child, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so a Ctrl-C in the terminal reaches dtbench
	// only and dtbench stops its children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

// stop sends SIGTERM and waits, killing the child after 30 s. Stopping a
// stopped (or nil) child does nothing.
func (c *child) stop() {
	if c == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// waitReady polls ready until it succeeds, the child exits or 90 s pass;
// an error ends with the child's log.
func (c *child) waitReady(ctx context.Context, ready func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for err := ready(); err != nil; err = ready() {
		select {
		case <-time.After(50 * time.Millisecond):
			continue
		case <-c.done:
			err = fmt.Errorf("exited: %w", err)
		case <-ctx.Done():
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		log, _ := os.ReadFile(c.logPath)
		return fmt.Errorf("%s not ready: %w\n%s", c.name, err, log[max(len(log)-3000, 0):])
	}
	return nil
}

// cpu answers the CPU time the child has used so far, from /proc, so that
// ours, the ceiling and the bound (which serve no /metrics) count alike.
func (c *child) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields 14 to 17 of proc(5), counted after the command name (which
	// may hold spaces): utime, stime, cutime, cstime, in ticks of USER_HZ
	// (100 on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	var ticks int64
	for i := 11; i < 15 && i < len(f); i++ {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// startOnFreePorts starts a child on nports loopback addresses that were
// free a moment ago and waits until ready answers nil. Another process may
// take a port before the child binds it, so it tries three times.
func startOnFreePorts(ctx context.Context, nports int, start func(addrs []string) (*child, error), ready func(addrs []string) error) (*child, error) {
	var lastErr error
	for range 3 {
		addrs := make([]string, nports)
		for i := range addrs {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			addrs[i] = l.Addr().String()
			l.Close()
		}
		c, err := start(addrs)
		if err != nil {
			return nil, err
		}
		c.addr = addrs[0]
		if nports > 1 {
			c.metricsAddr = addrs[1]
		}
		if lastErr = c.waitReady(ctx, func() error { return ready(addrs) }); lastErr == nil {
			return c, nil
		}
		c.stop()
	}
	return nil, lastErr
}

// startRedis starts a redis-server without persistence, so loading a
// million tokens is bounded by the round trips, not the disk.
func startRedis(ctx context.Context, dir string) (*child, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not on PATH (apt-get install redis-server): %w", err)
	}
	return startOnFreePorts(ctx, 1, func(addrs []string) (*child, error) {
		_, port, _ := net.SplitHostPort(addrs[0])
		return startChild("redis-server", bin, []string{"--port", port, "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"}, nil, filepath.Join(dir, "redis.log"))
	}, func(addrs []string) error { return testenv.Ping(addrs[0]) })
}

// buildServer builds the module's cmd/deploytokens into out, as it ships.
func buildServer(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, cmpStr(os.Getenv("GO"), "go"), "build", "-o", out, "./cmd/deploytokens")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the server: %w", err)
	}
	return nil
}

// startServer runs bin serve with env and waits until it is ready.
func startServer(ctx context.Context, bin string, env []string, logPath string) (*child, error) {
	return startOnFreePorts(ctx, 2, func(addrs []string) (*child, error) {
		e := append([]string{"DEPLOYTOKENS_LISTEN=" + addrs[0], "DEPLOYTOKENS_METRICS_LISTEN=" + addrs[1]}, env...)
		return startChild("deploytokens", bin, []string{"serve"}, e, logPath)
	}, func(addrs []string) error { return httpOK("http://" + addrs[0] + "/-/readiness") })
}

var probe = &http.Client{Timeout: 2 * time.Second}

func httpOK(url string) error {
	resp, err := probe.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
