package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// commandStats answers INFO commandstats as calls by command name.
func commandStats(ctx context.Context, c *redis.Client) (map[string]int64, error) {
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	return parseCommandStats(info), nil
}

// parseCommandStats reads lines like
// cmdstat_get:calls=3,usec=10,usec_per_call=3.33,rejected_calls=0,failed_calls=0.
func parseCommandStats(info string) map[string]int64 {
	out := map[string]int64{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out
}

// commandDelta answers after-before per command, leaving out the commands
// dtbench itself sends to read the statistics.
func commandDelta(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		if k == "info" || strings.HasPrefix(k, "memory") || k == "monitor" {
			continue
		}
		if n := v - before[k]; n > 0 {
			d[k] = n
		}
	}
	return d
}

// fmtCommands formats commands per request, most frequent first:
// "evalsha 1.00, get 2.00".
func fmtCommands(d map[string]int64, requests int64) string {
	if requests == 0 || len(d) == 0 {
		return "—"
	}
	names := slices.Collect(maps.Keys(d))
	slices.SortFunc(names, func(a, b string) int {
		if d[a] != d[b] {
			return int(d[b] - d[a])
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, n := range names {
		per := float64(d[n]) / float64(requests)
		if per < 0.005 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", n, per))
	}
	return strings.Join(parts, ", ")
}

func infoInt(ctx context.Context, c *redis.Client, section, field string) (int64, error) {
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in INFO %s", field, section)
}

// monitor counts, with Redis MONITOR, the commands clients send (round
// trips: commands scripts run inside Redis are shown as from "lua" and not
// counted). MONITOR slows Redis down, so it runs only in a short window of
// its own, never while throughput is measured.
type monitor struct {
	conn    net.Conn
	mu      sync.Mutex
	clients int64
	scripts int64
	// writes are the client commands that wrote (themselves, or a
	// command of their script did): the last-use writes, off the request
	// path.
	writes    int64
	lastWrote bool
	byCmd     map[string]int64
	done      chan struct{}
}

// writeCommands are the commands of the store that change data.
var writeCommands = map[string]bool{"set": true, "hset": true, "sadd": true, "srem": true, "del": true,
	"incr": true, "incrby": true, "pexpire": true, "hdel": true, "setnx": true}

func startMonitor(addr string) (*monitor, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+OK") {
		conn.Close()
		return nil, fmt.Errorf("MONITOR answered %q: %v", line, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	m := &monitor{conn: conn, byCmd: map[string]int64{}, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			m.count(line)
		}
	}()
	return m, nil
}

// count reads a line like
// +1700000000.123456 [0 127.0.0.1:5555] "evalsha" "..." or [0 lua] "get".
func (m *monitor) count(line string) {
	open := strings.IndexByte(line, '[')
	end := strings.IndexByte(line, ']')
	if open < 0 || end < open {
		return
	}
	src := line[open+1 : end]
	cmd := ""
	if rest := line[end+1:]; strings.HasPrefix(strings.TrimSpace(rest), `"`) {
		r := strings.TrimSpace(rest)[1:]
		if i := strings.IndexByte(r, '"'); i >= 0 {
			cmd = strings.ToLower(r[:i])
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if strings.HasSuffix(src, " lua") {
		m.scripts++
		// A script's commands follow the command that ran it.
		if writeCommands[cmd] && !m.lastWrote && m.clients > 0 {
			m.writes++
			m.lastWrote = true
		}
		return
	}
	m.clients++
	m.byCmd[cmd]++
	m.lastWrote = writeCommands[cmd]
	if m.lastWrote {
		m.writes++
	}
}

// stop ends monitoring after a moment for the last lines to arrive, and
// answers the commands clients sent, how many of them wrote, and the
// commands by name.
func (m *monitor) stop() (clients, writes int64, byCmd map[string]int64) {
	time.Sleep(200 * time.Millisecond)
	m.conn.Close()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.clients, m.writes, maps.Clone(m.byCmd)
}

var errNoRedis = errors.New("not a redis store")
