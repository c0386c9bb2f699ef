package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machineInfo describes where dtbench ran.
type machineInfo struct {
	started                                      time.Time
	cores                                        int
	goVersion, cpu, kernel, redis, commit, dirty string
}

func readMachine(ctx context.Context) machineInfo {
	out := func(name string, args ...string) string {
		b, _ := exec.CommandContext(ctx, name, args...).Output()
		return strings.TrimSpace(string(b))
	}
	cpu, _ := os.ReadFile("/proc/cpuinfo")
	_, model, _ := strings.Cut(string(cpu), "model name")
	model, _, _ = strings.Cut(strings.TrimLeft(model, "\t :"), "\n")
	m := machineInfo{started: time.Now(), cores: runtime.NumCPU(), goVersion: runtime.Version(), cpu: model,
		kernel: out("uname", "-sr"), commit: out("git", "rev-parse", "--short", "HEAD")}
	if f := strings.Fields(out("redis-server", "--version")); len(f) >= 3 {
		m.redis = strings.TrimPrefix(f[2], "v=") // Redis server v=7.0.15 sha=...
	}
	if out("git", "status", "--porcelain", "--untracked-files=no") != "" {
		m.dirty = " (with uncommitted changes)"
	}
	return m
}

// columns are the table's, each with how a row fills it. Figures of our
// server read "—" on the rows of dtbench's own servers (and round trips on
// the embedded store's), "n/a" when its /metrics did not give them.
var columns = []struct {
	name string
	cell func(x *row) string
}{
	{"store", func(x *row) string { return cmpStr(x.store, "—") }},
	{"tokens", func(x *row) string { return ours(x, true, strconv.Itoa(x.tokens)) }},
	{"scenario", func(x *row) string { return x.scenario }},
	{"alg", func(x *row) string { return x.alg }},
	{"req/s", func(x *row) string { return fmt.Sprintf("%.0f", x.res.rps()) }},
	{"of ceiling", func(x *row) string { return fmt.Sprintf("%.1f%%", 100*x.res.rps()/x.ceiling) }},
	{"p50", func(x *row) string { return fmtDuration(x.res.quantile(.5)) }},
	{"p99", func(x *row) string { return fmtDuration(x.res.quantile(.99)) }},
	{"p99.9", func(x *row) string { return fmtDuration(x.res.quantile(.999)) }},
	{"errors", func(x *row) string { return strconv.FormatInt(x.res.errors, 10) }},
	{"round trips/req", func(x *row) string { return ours(x, x.store == storeRedis, perReq(x.roundTrips, 2)) }},
	{"allocs/req", func(x *row) string { return ours(x, true, perReq(x.allocs, 0)) }},
	{"server CPU µs/req", func(x *row) string { return fmt.Sprintf("%.0f", x.serverCPU.Seconds()*1e6) }},
}

// ours answers s on our server's rows where applies, else "—".
func ours(x *row, applies bool, s string) string {
	if x.store == "" || !applies {
		return "—"
	}
	return s
}

// perReq formats a per-request figure from /metrics, negative when there
// was none.
func perReq(v float64, prec int) string {
	if v < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func cmpStr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func fmtDuration(d time.Duration) string {
	switch ms := d.Seconds() * 1000; {
	case d <= 0:
		return "—"
	case ms < 1:
		return fmt.Sprintf("%.0f µs", ms*1000)
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	default:
		return fmt.Sprintf("%.1f ms", ms)
	}
}

// table answers the header and the cells of every row: the ceiling, the
// bound, then the server's rows in the order they were measured.
func (b *bench) table() (header []string, cells [][]string) {
	for _, c := range columns {
		header = append(header, c.name)
	}
	for _, x := range append(append([]row(nil), b.own...), b.rows...) {
		var r []string
		for _, c := range columns {
			r = append(r, c.cell(&x))
		}
		cells = append(cells, r)
	}
	return header, cells
}

// markdown is what dtbench prints and writes between the markers of
// docs/performance.md.
func (b *bench) markdown() []byte {
	m, cfg := b.machine, b.cfg
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "Measured %s by `%s` (%s).\n\n", m.started.UTC().Format("2006-01-02 15:04 MST"), cfg.cmdline, time.Since(m.started).Round(time.Second))
	fmt.Fprintf(&buf, "**Machine:** %s, %d cores; %s; %s; redis-server %s; commit %s%s. Server, Redis and load generator share the cores.\n\n",
		m.cpu, m.cores, m.kernel, m.goVersion, m.redis, m.commit, m.dirty)
	fmt.Fprintf(&buf, "**Load:** %d concurrent keep-alive connections, closed loop; %s warm-up (until every rotated token was used once, at most %s), then %s measured per row. "+
		"Requests rotate over %d deploy tokens spread evenly over the stored set (every token answer a fresh signature).\n\n",
		cfg.concurrency, warmup, 4*warmup, cfg.duration, rotate)
	fmt.Fprintf(&buf, "**Ceiling:** a bare echo server answering a fixed body the size of a token answer; \"of ceiling\" is each row's share of the mean of two %s ceiling windows, one right before it and one right after. "+
		"**Bound:** the same server signing a fresh ES256 token for every answer (golang-jwt over crypto/ecdsa), with no authentication, store, middleware or log: what this machine's HTTP stack and load generator leave once every answer pays one signature.\n\n",
		ceilingWindow)
	header, cells := b.table()
	fmt.Fprintf(&buf, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, r := range cells {
		fmt.Fprintf(&buf, "| %s |\n", strings.Join(r, " | "))
	}
	if b.refusalTable != "" {
		fmt.Fprintf(&buf, "\n**Refusals:** each refusal path of `GET /jwt/auth` timed from one client, one request at a time, interleaved in a new random order every round; the medians should lie within 5%% of each other.\n\n%s", b.refusalTable)
	}
	return buf.Bytes()
}

// Markers delimit what dtbench writes into the markdown file; text around
// them is kept.
const (
	beginMarker = "<!-- dtbench:begin (generated by make bench; edits between these markers are overwritten) -->"
	endMarker   = "<!-- dtbench:end -->"
)

// writeMarkdown puts body between the markers of the file at path.
func writeMarkdown(path string, body []byte) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := splice(old, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

func splice(old, body []byte) ([]byte, error) {
	i, j := bytes.Index(old, []byte(beginMarker)), bytes.Index(old, []byte(endMarker))
	if i < 0 || j < i {
		return nil, errors.New("dtbench markers are missing or out of order")
	}
	out := append([]byte(nil), old[:i]...)
	out = append(append(out, beginMarker+"\n\n"...), bytes.TrimRight(body, "\n")...)
	return append(append(out, "\n\n"+endMarker...), old[j+len(endMarker):]...), nil
}
