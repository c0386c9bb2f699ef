package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// machineInfo describes where dtbench ran.
type machineInfo struct {
	cpu, kernel, goVersion, redis, git, commit, memory string
	cores                                              int
	started                                            time.Time
}

func readMachine(ctx context.Context) machineInfo {
	m := machineInfo{goVersion: runtime.Version(), started: time.Now()}
	// The machine's cores, not only those dtbench may run on.
	for _, file := range []string{"/proc/cpuinfo", "/proc/meminfo"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			switch k, v = strings.TrimSpace(k), strings.TrimSpace(v); k {
			case "processor":
				m.cores++
			case "model name":
				m.cpu = v
			case "MemTotal":
				kb, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
				m.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
		f.Close()
	}
	out := func(name string, args ...string) string {
		b, err := exec.CommandContext(ctx, name, args...).Output()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(b))
	}
	m.kernel = out("uname", "-sr")
	m.redis = out("redis-server", "--version")
	if f := strings.Fields(m.redis); len(f) >= 3 {
		m.redis = strings.TrimPrefix(f[2], "v=")
	}
	m.git = strings.TrimPrefix(out("git", "--version"), "git version ")
	m.commit = out("git", "rev-parse", "--short", "HEAD")
	if out("git", "status", "--porcelain", "--untracked-files=no") != "" {
		m.commit += " (with uncommitted changes)"
	}
	return m
}

// share answers the row's req/s as a share of the ceiling measured on
// either side of it, negative when there was none.
func share(x *row) float64 {
	if x.adjCeiling <= 0 {
		return -1
	}
	return x.res.rps() / x.adjCeiling
}

// ceilingRPS is the mean of the ceiling's whole windows.
func (b *bench) ceilingRPS() float64 {
	var sum float64
	for i := range b.ceilings {
		sum += b.ceilings[i].res.rps()
	}
	return sum / float64(max(len(b.ceilings), 1))
}

// fmtFloat formats v, or answers "" when it is negative (not measured).
func fmtFloat(v float64, prec int) string {
	if v < 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func pct(v float64) string {
	if v < 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

func mb(b int64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MB", float64(b)/1e6)
}

func us(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond))
}

func cmpStr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// tokensCol is the tokens column: a dash for dtbench's own servers.
func tokensCol(x *row) string {
	if x.store == "" {
		return "—"
	}
	return strconv.Itoa(x.tokens)
}

var throughputHeader = []string{"store", "tokens", "scenario", "alg", "req/s", "of ceiling", "p50", "p99", "p99.9", "p99 at socket", "errors",
	"round trips/req (of which last-use writes)", "Redis commands/req (incl. inside scripts)", "allocs/req", "server CPU µs/req", "Redis CPU µs/req", "loadgen CPU µs/req", "other load (cores)", "server RSS (anonymous)"}

func (b *bench) throughputRows() [][]string {
	all := append([]row(nil), b.ceilings...)
	if b.bound != nil {
		all = append(all, *b.bound)
	}
	var out [][]string
	for _, x := range append(all, b.rows...) {
		// Figures of our server read n/a when it served no /metrics.
		trips, commands, allocs := "—", "—", "—"
		if x.store == storeRedis {
			trips, commands = fmt.Sprintf("%s (%.2f)", cmpStr(fmtFloat(x.roundTrips, 2), "n/a"), x.writes), x.commands
		}
		if x.store != "" {
			allocs = cmpStr(fmtFloat(x.allocs, 0), "n/a")
		}
		out = append(out, []string{
			cmpStr(x.store, "—"), tokensCol(&x), x.scenario, x.alg,
			fmt.Sprintf("%.0f", x.res.rps()), pct(share(&x)),
			fmtDuration(x.res.quantile(.5)), fmtDuration(x.res.quantile(.99)), fmtDuration(x.res.quantile(.999)),
			fmtDuration(x.res.atSocket.quantile(.99)), strconv.FormatInt(x.res.errors, 10),
			trips, commands, allocs, us(x.serverCPU), us(x.redisCPU), us(x.genCPU),
			fmt.Sprintf("%.2f", x.otherCores), fmt.Sprintf("%s (%s)", mb(x.rss), mb(x.anon)),
		})
	}
	return out
}

var memoryHeader = []string{"store", "tokens", "projects", "load projects", "load tokens",
	"Redis bytes/token (used_memory delta)", "store file", "server RSS at start", "server peak RSS", "server anonymous memory"}

func (b *bench) memoryRows() [][]string {
	var out [][]string
	for _, m := range b.mems {
		out = append(out, []string{m.store, strconv.Itoa(m.tokens), strconv.Itoa(m.projects),
			m.projectsLoad.Round(time.Millisecond).String(), m.tokensLoad.Round(time.Millisecond).String(),
			cmpStr(fmtFloat(m.usedPerTok, 0), "—"), mb(m.dbFileBytes), mb(m.serverStartRSS), mb(m.serverPeakRSS), mb(m.serverAnon)})
	}
	return out
}

// text is the tables for the terminal.
func (b *bench) text() string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, t := range []struct {
		header []string
		rows   [][]string
	}{{throughputHeader, b.throughputRows()}, {memoryHeader, b.memoryRows()}} {
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
		for _, r := range t.rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		tw.Flush()
		fmt.Fprintln(&buf)
	}
	return buf.String()
}

func mdTable(buf *bytes.Buffer, header []string, rows [][]string) {
	fmt.Fprintf(buf, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, r := range rows {
		fmt.Fprintf(buf, "| %s |\n", strings.Join(r, " | "))
	}
	buf.WriteByte('\n')
}

// markdown is what dtbench writes between the markers of
// docs/performance.md.
func (b *bench) markdown() []byte {
	m, cfg := b.machine, b.cfg
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "Measured %s by `%s` (%s).\n\n", m.started.UTC().Format("2006-01-02 15:04 MST"), cfg.cmdline, time.Since(m.started).Round(time.Second))
	placement := "Server, Redis and load generator share the cores."
	if cfg.serverCPUs != "" {
		placement = fmt.Sprintf("The measured servers (deploytokens, the ceiling, the bound) ran on CPU %s only; "+
			"dtbench's load generator and redis-server on the others.", cfg.serverCPUs)
	}
	fmt.Fprintf(&buf, "**Machine:** %s, %d cores, %s memory; %s; %s; redis-server %s; git %s; commit %s. %s\n\n",
		m.cpu, m.cores, m.memory, m.kernel, m.goVersion, m.redis, m.git, m.commit, placement)
	fmt.Fprintf(&buf, "**Load:** %d concurrent keep-alive connections, closed loop; %s warm-up (until every rotated token was used once, at most %s), then %s measured per row. "+
		"Token requests rotate over %d deploy tokens spread evenly over the stored set (every answer a fresh signature); the git rows over up to %d (empty repository) and %d (authorization only) of them.\n\n",
		cfg.concurrency, cfg.warmup, 4*cfg.warmup, cfg.duration, cfg.rotate, gitRepoTokens, gitTokens)
	fmt.Fprintf(&buf, "**Ceiling:** %.0f req/s, the mean of its %d whole windows (the ceiling rows); \"of ceiling\" is each row's share of the mean of two %s ceiling windows, one right before it and one right after.\n\n",
		b.ceilingRPS(), len(b.ceilings), ceilingWindow)
	if bd := b.bound; bd != nil {
		fmt.Fprintf(&buf, "**Bound:** the same bare echo server signing a fresh ES256 token for every answer (golang-jwt over crypto/ecdsa) after yielding once as the server does, with no authentication, store, middleware or log: %.0f req/s, p99 %s (at the socket %s). It is what this machine's HTTP stack and load generator leave once every answer pays one signature.\n\n",
			bd.res.rps(), fmtDuration(bd.res.quantile(.99)), fmtDuration(bd.res.atSocket.quantile(.99)))
	}
	buf.WriteString("### Throughput and latency\n\n")
	mdTable(&buf, throughputHeader, b.throughputRows())
	buf.WriteString("### Memory and loading\n\n")
	mdTable(&buf, memoryHeader, b.memoryRows())
	return buf.Bytes()
}

// Markers delimit what dtbench writes into the markdown file; text around
// them is kept.
const (
	beginMarker = "<!-- dtbench:begin (generated by make bench; edits between these markers are overwritten) -->"
	endMarker   = "<!-- dtbench:end -->"
)

// writeMarkdown puts body between the markers of the file at path,
// creating the file (or appending the markers) when they are missing.
func writeMarkdown(path string, body []byte) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out, err := splice(old, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

func splice(old, body []byte) ([]byte, error) {
	block := append(append([]byte(beginMarker+"\n\n"), bytes.TrimRight(body, "\n")...), "\n\n"+endMarker...)
	i := bytes.Index(old, []byte(beginMarker))
	j := bytes.Index(old, []byte(endMarker))
	switch {
	case i < 0 && j < 0:
		if len(old) == 0 {
			old = []byte("# Performance\n")
		}
		return append(append(bytes.TrimRight(old, "\n"), "\n\n"...), append(block, '\n')...), nil
	case i < 0 || j < i:
		return nil, errors.New("dtbench markers are out of order or one is missing")
	}
	out := append([]byte(nil), old[:i]...)
	out = append(out, block...)
	return append(out, old[j+len(endMarker):]...), nil
}
