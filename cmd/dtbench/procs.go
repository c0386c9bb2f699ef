package main

import (
	"bufio"
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

// startTimeout bounds how long a child may take to become ready.
const startTimeout = 90 * time.Second

// stopTimeout bounds how long a child may take to exit after SIGTERM
// before it is killed.
const stopTimeout = 30 * time.Second

// child is a process dtbench started and must stop.
type child struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
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
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), logPath: logPath}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// stop sends SIGTERM and waits, killing the child after stopTimeout.
// Stopping a stopped child does nothing.
func (c *child) stop() {
	if c == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// logTail answers the end of the child's log, for error messages.
func (c *child) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// waitReady polls ready until it succeeds, the child exits or startTimeout
// passes.
func (c *child) waitReady(ctx context.Context, ready func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if c.exited() {
			return fmt.Errorf("%s exited at start:\n%s", c.name, c.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s (%v):\n%s", c.name, startTimeout, err, c.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cpu answers the CPU time (user and system) the child has used so far,
// its own children's (git http-backend and what it runs) included once they
// were waited for.
func (c *child) cpu() time.Duration { return procCPU(c.cmd.Process.Pid) }

// rss answers the child's resident set size, its peak, and the part of it
// that is anonymous memory (heap, stacks) rather than mapped files, in
// bytes.
func (c *child) rss() (cur, peak, anon int64) { return procRSS(c.cmd.Process.Pid) }

// clockTick is the unit of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields count from after ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	// Fields 14 to 17 of proc(5): utime, stime, cutime, cstime.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, v := range f[11:15] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

// machineBusy answers the CPU time all cores have spent busy (not idle
// and not waiting for I/O) since boot.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick
}

func procRSS(pid int) (cur, peak, anon int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			cur = kb << 10
		case "VmHWM":
			peak = kb << 10
		case "RssAnon":
			anon = kb << 10
		}
	}
	return cur, peak, anon
}

// freePort answers a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// redisServer is the redis-server dtbench starts: no persistence, so
// loading a million tokens is bounded by the pipeline, not the disk.
type redisServer struct {
	*child
	addr string
}

func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not on PATH (apt-get install redis-server): %w", err)
	}
	var lastErr error
	// Another process may take the free port before redis binds it.
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c, err := startChild("redis-server", bin, []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
		}, nil, filepath.Join(dir, "redis.log"))
		if err != nil {
			return nil, err
		}
		r := &redisServer{child: c, addr: loopback(port)}
		if lastErr = c.waitReady(ctx, func() error { return testenv.Ping(r.addr) }); lastErr == nil {
			return r, nil
		}
		c.stop()
	}
	return nil, lastErr
}

func (r *redisServer) url() string { return "redis://" + r.addr + "/0" }

// buildServer builds cmd/deploytokens of the module in the working
// directory into out, as it ships: dtbench reads what it measures of the
// server from outside (/metrics, /proc).
func buildServer(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, goBin(), "build", "-o", out, "./cmd/deploytokens")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the server: %w", err)
	}
	return nil
}

func goBin() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// server is a running deploytokens.
type server struct {
	*child
	addr string
	// metricsAddr serves /metrics once the server has a metrics
	// listener; until then scrapes fail and its figures read n/a.
	metricsAddr string
}

// startServer runs bin serve with env (on cpus, when set) and waits until
// /-/readiness answers 200.
func startServer(ctx context.Context, bin, cpus string, env []string, logPath string) (*server, error) {
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		mport, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &server{addr: loopback(port), metricsAddr: loopback(mport)}
		e := append([]string{
			"DEPLOYTOKENS_LISTEN=" + s.addr,
			"DEPLOYTOKENS_METRICS_LISTEN=" + s.metricsAddr,
		}, env...)
		name, args := pinned(cpus, bin, []string{"serve"})
		if s.child, err = startChild("deploytokens", name, args, e, logPath); err != nil {
			return nil, err
		}
		if lastErr = s.waitReady(ctx, func() error { return httpOK("http://" + s.addr + "/-/readiness") }); lastErr == nil {
			return s, nil
		}
		s.stop()
	}
	return nil, lastErr
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

// pinned answers how to run bin with args on cpus: through taskset, which
// sets the affinity and execs bin in the same process, or as it is when
// cpus is empty.
func pinned(cpus, bin string, args []string) (string, []string) {
	if cpus == "" {
		return bin, args
	}
	return "taskset", append([]string{"--cpu-list", cpus, bin}, args...)
}
