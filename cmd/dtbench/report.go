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
	"strings"
	"text/tabwriter"
	"time"
)

// machineInfo describes where dtbench ran.
type machineInfo struct {
	cpu, kernel, goVersion, redis, git, commit string
	cores                                      int
	memory                                     string
	started                                    time.Time
}

func readMachine(ctx context.Context) machineInfo {
	// The machine's cores, not only those dtbench may run on.
	m := machineInfo{cores: runtime.NumCPU(), goVersion: runtime.Version(), started: time.Now()}
	if online, err := onlineCPUs(); err == nil {
		m.cores = online.Count()
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(v), &kb)
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

// report is what dtbench prints and writes.
type report struct {
	b *bench
}

func (b *bench) report() *report { return &report{b: b} }

// ceilingRPS is the mean of the ceiling's windows.
func (r *report) ceilingRPS() float64 {
	var sum float64
	for i := range r.b.ceilings {
		sum += r.b.ceilings[i].res.rps()
	}
	if len(r.b.ceilings) == 0 {
		return 0
	}
	return sum / float64(len(r.b.ceilings))
}

// share answers x's req/s as a share of the ceiling measured right after
// it (of the mean ceiling when there was none).
func (r *report) share(x *row) float64 {
	c := x.adjCeiling
	if c == 0 {
		c = r.ceilingRPS()
	}
	if c == 0 {
		return -1
	}
	return x.res.rps() / c
}

func (r *report) ratio(x *row) string {
	s := r.share(x)
	if s < 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*s)
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

var throughputHeader = []string{"store", "tokens", "scenario", "alg", "req/s", "of ceiling", "p50", "p99", "p99.9", "p99 at socket", "errors",
	"round trips/req (of which last-use writes)", "Redis commands/req (incl. inside scripts)", "allocs/req", "server CPU µs/req", "Redis CPU µs/req", "loadgen CPU µs/req", "other load (cores)", "server RSS (anonymous)"}

func roundTrips(x *row) string {
	if x.roundTrips < 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f (%.2f)", x.roundTrips, x.writeTrips)
}

func (r *report) throughputRows() [][]string {
	var out [][]string
	all := append([]row(nil), r.b.ceilings...)
	if r.b.bound != nil {
		all = append(all, *r.b.bound)
	}
	all = append(all, r.b.rows...)
	for i := range all {
		x := &all[i]
		store, tokens := x.store, fmt.Sprint(x.tokens)
		if x.scenario == scenCeiling || x.scenario == scenBound {
			store, tokens = "—", "—"
		}
		out = append(out, []string{
			store, tokens, x.scenario, x.alg,
			fmt.Sprintf("%.0f", x.res.rps()), r.ratio(x),
			fmtDuration(x.res.quantile(.5)), fmtDuration(x.res.quantile(.99)), fmtDuration(x.res.quantile(.999)),
			fmtDuration(x.res.atSocket.quantile(.99)), fmt.Sprint(x.res.errors),
			roundTrips(x), x.commands, fmtFloat(x.allocs, 0),
			us(x.serverCPU), us(x.redisCPU), us(x.genCPU), fmt.Sprintf("%.2f", x.otherCores),
			fmt.Sprintf("%s (%s)", mb(x.rss), mb(x.anon)),
		})
	}
	return out
}

var memoryHeader = []string{"store", "tokens", "projects", "load projects", "load tokens", "Redis bytes/token (MEMORY USAGE, sampled)",
	"Redis bytes/token (used_memory delta)", "store file", "server RSS at start", "server peak RSS", "server anonymous memory"}

func (r *report) memoryRows() [][]string {
	var out [][]string
	for _, m := range r.b.mems {
		sampled, used, file := "—", "—", "—"
		if m.sampledPerTok > 0 {
			sampled = fmt.Sprintf("%.0f", m.sampledPerTok)
			used = fmt.Sprintf("%.0f", m.usedPerTok)
		}
		if m.dbFileBytes > 0 {
			file = mb(m.dbFileBytes)
		}
		out = append(out, []string{m.store, fmt.Sprint(m.tokens), fmt.Sprint(m.projects),
			m.projectsLoad.Round(time.Millisecond).String(), m.tokensLoad.Round(time.Millisecond).String(),
			sampled, used, file, mb(m.serverStartRSS), mb(m.serverPeakRSS), mb(m.serverAnon)})
	}
	return out
}

// target is one of the targets with what was measured.
type target struct {
	name, measured, verdict string
}

func (r *report) findRows(store, scenario, alg string) []*row {
	var out []*row
	for i := range r.b.rows {
		x := &r.b.rows[i]
		if x.store == store && x.scenario == scenario && x.alg == alg {
			out = append(out, x)
		}
	}
	return out
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r *report) targets() []target {
	var ts []target
	es := append(r.findRows(storeRedis, scenGET, "ES256"), r.findRows(storeRedis, scenPOST, "ES256")...)
	if r.ceilingRPS() > 0 && len(es) > 0 {
		worst := 1e9
		var parts []string
		for _, x := range es {
			ratio := r.share(x)
			worst = min(worst, ratio)
			parts = append(parts, fmt.Sprintf("%s %d: %.1f%%", shortScen(x.scenario), x.tokens, 100*ratio))
		}
		ts = append(ts, target{"ES256 token issuance (Redis, 10,000 rotating tokens) ≥ 20% of the ceiling's req/s",
			fmt.Sprintf("lowest %.1f%% (%s)", 100*worst, strings.Join(parts, "; ")), verdict(worst >= 0.20)})
		ok := true
		parts = nil
		for _, x := range es {
			p99 := x.res.quantile(.99)
			ok = ok && p99 < 10*time.Millisecond && x.res.errors == 0
			parts = append(parts, fmt.Sprintf("%s %d: %s (at socket %s)", shortScen(x.scenario), x.tokens,
				fmtDuration(p99), fmtDuration(x.res.atSocket.quantile(.99))))
		}
		if bd := r.b.bound; bd != nil {
			parts = append(parts, fmt.Sprintf("the bound (bare echo, one yield and one ES256 signature per answer, nothing else): %s (at socket %s) at %.0f req/s",
				fmtDuration(bd.res.quantile(.99)), fmtDuration(bd.res.atSocket.quantile(.99)), bd.res.rps()))
		}
		ts = append(ts, target{"p99 < 10 ms at 64 concurrent clients (same rows)", strings.Join(parts, "; "), verdict(ok)})
	}
	var tokenRows []*row
	for i := range r.b.rows {
		if x := &r.b.rows[i]; x.store == storeRedis && x.token() && x.roundTrips >= 0 {
			tokenRows = append(tokenRows, x)
		}
	}
	if len(tokenRows) > 0 {
		worst, writes := 0.0, 0.0
		for _, x := range tokenRows {
			worst = max(worst, x.roundTrips-x.writeTrips)
			writes = max(writes, x.writeTrips)
		}
		ts = append(ts, target{"≤ 2 store round trips per token request",
			fmt.Sprintf("at most %.2f on the request path, every Redis token row (MONITOR); last-use writes, off the path, at most %.2f", worst, writes),
			verdict(worst <= 2.005)})
	}
	for _, store := range []string{storeRedis, storeEmbed} {
		rows := r.findRows(store, scenGET, "ES256")
		if len(rows) < 2 {
			continue
		}
		small, large := rows[0], rows[0]
		for _, x := range rows {
			if x.tokens < small.tokens {
				small = x
			}
			if x.tokens > large.tokens {
				large = x
			}
		}
		if small.tokens == large.tokens {
			continue
		}
		// Minutes apart, the machine's own speed differs; each row's share
		// of the ceiling measured on either side of it takes that out.
		raw := large.res.rps()/small.res.rps() - 1
		change := r.share(large)/r.share(small) - 1
		ts = append(ts, target{fmt.Sprintf("%s: GET throughput at %d tokens within 10%% of %d", store, large.tokens, small.tokens),
			fmt.Sprintf("%.1f%% vs %.1f%% of the ceiling (%+.1f%%); raw %.0f vs %.0f req/s (%+.1f%%)",
				100*r.share(large), 100*r.share(small), 100*change, large.res.rps(), small.res.rps(), 100*raw),
			verdict(change >= -0.10)})
	}
	worst := 0.0
	var parts []string
	for _, m := range r.b.mems {
		if m.sampledPerTok > 0 {
			worst = max(worst, m.sampledPerTok)
			parts = append(parts, fmt.Sprintf("%d: %.0f B (used_memory %.0f B)", m.tokens, m.sampledPerTok, m.usedPerTok))
		}
	}
	if len(parts) > 0 {
		ts = append(ts, target{"≤ 512 bytes of Redis memory per deploy token", strings.Join(parts, "; "), verdict(worst <= 512)})
	}
	for _, m := range r.b.mems {
		if m.tokens >= 1_000_000 {
			ts = append(ts, target{fmt.Sprintf("%s: server RSS < 150 MB at %d tokens", m.store, m.tokens),
				fmt.Sprintf("peak %s, of which anonymous memory at most %s", mb(m.serverPeakRSS), mb(m.serverAnon)), verdict(m.serverPeakRSS < 150e6)})
		}
	}
	return ts
}

func shortScen(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

func (r *report) text() string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	write := func(header []string, rows [][]string) {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, row := range rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		tw.Flush()
		fmt.Fprintln(&buf)
	}
	write(throughputHeader, r.throughputRows())
	write(memoryHeader, r.memoryRows())
	var trows [][]string
	for _, t := range r.targets() {
		trows = append(trows, []string{t.name, t.measured, strings.Trim(t.verdict, "*")})
	}
	write([]string{"target", "measured", ""}, trows)
	return buf.String()
}

func mdTable(buf *bytes.Buffer, header []string, rows [][]string) {
	fmt.Fprintf(buf, "| %s |\n", strings.Join(header, " | "))
	fmt.Fprintf(buf, "|%s\n", strings.Repeat("---|", len(header)))
	for _, row := range rows {
		fmt.Fprintf(buf, "| %s |\n", strings.Join(row, " | "))
	}
	buf.WriteByte('\n')
}

// placement says which processes ran on which CPUs.
func (r *report) placement() string {
	if cpus := r.b.cfg.serverCPUs; cpus != "" {
		return fmt.Sprintf("The measured servers (deploytokens, the ceiling, the bound) ran on CPU %s only; "+
			"dtbench's load generator and redis-server on the others.", cpus)
	}
	return "Server, Redis and load generator share the cores."
}

func (r *report) markdown() []byte {
	b, m := r.b, r.b.machine
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "Measured %s by `%s` (%s).\n\n", m.started.UTC().Format("2006-01-02 15:04 MST"), b.cfg.cmdline, time.Since(m.started).Round(time.Second))
	fmt.Fprintf(&buf, "**Machine:** %s, %d cores, %s memory; %s; %s; redis-server %s; git %s; commit %s. %s\n\n",
		m.cpu, m.cores, m.memory, m.kernel, m.goVersion, m.redis, m.git, m.commit, r.placement())
	fmt.Fprintf(&buf, "**Load:** %d concurrent keep-alive connections, closed loop; %s warm-up (until every rotated token was used once, at most %s), then %s measured per row. "+
		"Token requests rotate over %d deploy tokens spread evenly over the stored set (every answer a fresh signature); the git rows over up to %d (empty repository) and %d (authorization only) of them.\n\n",
		b.cfg.concurrency, b.cfg.warmup, 4*b.cfg.warmup, b.cfg.duration, b.cfg.rotate, gitRepoTokens, gitTokens)
	fmt.Fprintf(&buf, "**Ceiling:** %.0f req/s, the mean of its %d whole windows (the ceiling rows); \"of ceiling\" is each row's share of the mean of two %s ceiling windows, one right before it and one right after.\n\n",
		r.ceilingRPS(), len(b.ceilings), ceilingWindow)
	if bd := b.bound; bd != nil {
		fmt.Fprintf(&buf, "**Bound:** the same bare echo server signing a fresh ES256 token for every answer (golang-jwt over crypto/ecdsa) after yielding once as the server does, with no authentication, store, middleware or log: %.0f req/s, p99 %s (at the socket %s). It is what this machine's HTTP stack and load generator leave once every answer pays one signature.\n\n",
			bd.res.rps(), fmtDuration(bd.res.quantile(.99)), fmtDuration(bd.res.atSocket.quantile(.99)))
	}
	buf.WriteString("### Throughput and latency\n\n")
	mdTable(&buf, throughputHeader, r.throughputRows())
	buf.WriteString("### Memory and loading\n\n")
	mdTable(&buf, memoryHeader, r.memoryRows())
	buf.WriteString("### Targets\n\n")
	var trows [][]string
	for _, t := range r.targets() {
		trows = append(trows, []string{t.name, t.measured, t.verdict})
	}
	mdTable(&buf, []string{"target", "measured", "verdict"}, trows)
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
