package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisStats are Redis' own counters, read around each window.
type redisStats struct {
	// calls are the commands run, by name, those scripts run inside Redis
	// included.
	calls map[string]int64
	// writes are the fields and keys commands changed
	// (rdb_changes_since_last_save, which --save "" never resets): on the
	// token rows, the last-use writes.
	writes int64
}

func readRedisStats(ctx context.Context, c *redis.Client) (redisStats, error) {
	text, err := c.Info(ctx, "commandstats", "persistence").Result()
	if err != nil {
		return redisStats{}, err
	}
	info := parseInfo(text)
	writes, err := strconv.ParseInt(info["rdb_changes_since_last_save"], 10, 64)
	return redisStats{calls: parseCommandStats(info), writes: writes}, err
}

// usedMemory answers Redis' used_memory, in bytes.
func usedMemory(ctx context.Context, c *redis.Client) (int64, error) {
	text, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(parseInfo(text)["used_memory"], 10, 64)
}

// parseInfo reads the "field:value" lines of an INFO answer.
func parseInfo(info string) map[string]string {
	out := map[string]string{}
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// parseCommandStats reads fields like
// cmdstat_get: calls=3,usec=10,usec_per_call=3.33,rejected_calls=0,failed_calls=0.
func parseCommandStats(info map[string]string) map[string]int64 {
	out := map[string]int64{}
	for name, v := range info {
		name, ok := strings.CutPrefix(name, "cmdstat_")
		if !ok {
			continue
		}
		for kv := range strings.SplitSeq(v, ",") {
			if calls, ok := strings.CutPrefix(kv, "calls="); ok {
				out[name], _ = strconv.ParseInt(calls, 10, 64)
			}
		}
	}
	return out
}

// fmtCommands formats the commands run between before and after per
// request, most frequent first ("get 2.00, evalsha 1.00"), leaving out
// the INFO dtbench sends itself; a dash when there were none.
func fmtCommands(before, after map[string]int64, requests int64) string {
	d := map[string]int64{}
	for k, v := range after {
		if n := v - before[k]; n > 0 && k != "info" {
			d[k] = n
		}
	}
	if requests == 0 || len(d) == 0 {
		return "—"
	}
	names := slices.SortedFunc(maps.Keys(d), func(a, b string) int {
		if d[a] != d[b] {
			return int(d[b] - d[a])
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, n := range names {
		if per := float64(d[n]) / float64(requests); per >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", n, per))
		}
	}
	return cmpStr(strings.Join(parts, ", "), "—")
}
