package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// topologyStartTimeout bounds how long a Sentinel or Cluster topology may
// take to be whole (replicas in sync, sentinels aware of each other).
const topologyStartTimeout = 30 * time.Second

// startNode starts a redis-server with extra arguments (or, with
// sentinelConf, a Sentinel) on a free port, as StartRedisProcess does.
func startNode(tb testing.TB, args []string, sentinelConf string) *RedisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("testenv: redis-server is not on PATH (install the redis-server package): %v", err)
	}
	s := &RedisServer{tb: tb, bin: bin, dir: tb.TempDir(), args: args}
	s.logPath = filepath.Join(s.dir, "redis.log")
	tb.Cleanup(s.Stop)
	var lastErr error
	for range 3 {
		s.port = FreePort(tb)
		if sentinelConf != "" {
			// Sentinel rewrites its file, so it lives in the node's dir.
			s.sentinelConf = filepath.Join(s.dir, "sentinel.conf")
			if err := os.WriteFile(s.sentinelConf, []byte(sentinelConf), 0o600); err != nil {
				tb.Fatalf("testenv: %v", err)
			}
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("testenv: %v", lastErr)
	return nil
}

// Running reports whether the server's process runs (it was not stopped
// or killed since it last started).
func (s *RedisServer) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// client answers a go-redis client of the node with short timeouts, for
// the helpers' own questions.
func (s *RedisServer) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
}

// Do runs one command on the node itself (not through a topology-aware
// client), for tests that must act on one node: DEBUG SLEEP on a replica,
// CLIENT KILL TYPE replica on a master.
func (s *RedisServer) Do(ctx context.Context, args ...any) (any, error) {
	c := s.client()
	defer c.Close()
	return c.Do(ctx, args...).Result()
}

// waitFor polls cond every 50ms until it holds or topologyStartTimeout
// passes; then the test fails with what cond last said.
func waitFor(tb testing.TB, what string, cond func(ctx context.Context) error) {
	tb.Helper()
	deadline := time.Now().Add(topologyStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := cond(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: %s within %v: %v", what, topologyStartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sentinel is a Redis Sentinel topology on loopback: one master, one
// replica and three sentinels (quorum 2), with timeouts a test can wait
// out (a master is down after 1 s without answering).
type Sentinel struct {
	tb testing.TB
	// Name is the master's name in the sentinels (master_name).
	Name string
	// Data are the data nodes; Data[0] started as the master.
	Data []*RedisServer
	// Sentinels are the three sentinels.
	Sentinels []*RedisServer
}

// StartSentinel starts a Sentinel topology, durable (appendonly yes,
// appendfsync always) on free 127.0.0.1 ports, and answers it once the
// replica is in sync and every sentinel knows the replica and the other
// two sentinels. Everything is stopped when the test ends.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	st := &Sentinel{tb: tb, Name: "dtmaster"}
	master := startNode(tb, nil, "")
	replica := startNode(tb, []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.port)}, "")
	st.Data = []*RedisServer{master, replica}
	conf := fmt.Sprintf(`sentinel monitor %[1]s 127.0.0.1 %[2]d 2
sentinel down-after-milliseconds %[1]s 1000
sentinel failover-timeout %[1]s 3000
sentinel parallel-syncs %[1]s 1
`, st.Name, master.port)
	for range 3 {
		st.Sentinels = append(st.Sentinels, startNode(tb, nil, conf))
	}
	waitFor(tb, "the replica in sync", func(ctx context.Context) error { return linkUp(ctx, replica) })
	for _, sn := range st.Sentinels {
		waitFor(tb, "sentinel "+sn.Addr()+" aware of the topology", func(ctx context.Context) error {
			c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr()})
			defer c.Close()
			m, err := c.Master(ctx, st.Name).Result()
			if err != nil {
				return err
			}
			if m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
				return fmt.Errorf("num-slaves %s, num-other-sentinels %s", m["num-slaves"], m["num-other-sentinels"])
			}
			return nil
		})
	}
	return st
}

// linkUp reports whether replica's link to its master is up.
func linkUp(ctx context.Context, replica *RedisServer) error {
	c := replica.client()
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "master_link_status:up") {
		return fmt.Errorf("replica %s: link not up", replica.Addr())
	}
	return nil
}

// URL answers the topology's redis+sentinel:// URL naming all three
// sentinels.
func (st *Sentinel) URL() string {
	return fmt.Sprintf("redis+sentinel://%s/0?master_name=%s&addr=%s&addr=%s",
		st.Sentinels[0].Addr(), st.Name, st.Sentinels[1].Addr(), st.Sentinels[2].Addr())
}

// Master answers the data node the sentinels name as master now.
func (st *Sentinel) Master(ctx context.Context) (*RedisServer, error) {
	var lastErr error
	for _, sn := range st.Sentinels {
		if !sn.Running() {
			continue
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second})
		addr, err := c.GetMasterAddrByName(ctx, st.Name).Result()
		c.Close()
		if err != nil {
			lastErr = err
			continue
		}
		for _, n := range st.Data {
			if n.Addr() == strings.Join(addr, ":") {
				return n, nil
			}
		}
		return nil, fmt.Errorf("sentinels name an unknown master %v", addr)
	}
	return nil, fmt.Errorf("no sentinel answers: %w", lastErr)
}

// Replica answers the data node that is not m.
func (st *Sentinel) Replica(m *RedisServer) *RedisServer {
	if st.Data[0] == m {
		return st.Data[1]
	}
	return st.Data[0]
}

// WaitPromotion polls the sentinels until they name a master other than
// old, and answers it with when it was first seen (at most 20ms late).
func (st *Sentinel) WaitPromotion(old *RedisServer, timeout time.Duration) (*RedisServer, time.Time) {
	st.tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		m, err := st.Master(ctx)
		cancel()
		if err == nil && m != old {
			return m, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	st.tb.Fatalf("testenv: sentinels promoted no replica within %v", timeout)
	return nil, time.Time{}
}

// WaitReplicaInSync waits until a node other than m runs as m's replica
// with its link up (after a killed master was started again, say).
func (st *Sentinel) WaitReplicaInSync(m *RedisServer) {
	st.tb.Helper()
	waitFor(st.tb, "a replica of "+m.Addr()+" in sync", func(ctx context.Context) error { return linkUp(ctx, st.Replica(m)) })
}

// Cluster is a Redis Cluster on loopback: three masters with one replica
// each, with a node timeout of 1 s so a failover takes seconds.
type Cluster struct {
	tb    testing.TB
	Nodes []*RedisServer
}

// StartCluster starts six cluster nodes, durable, on free 127.0.0.1 ports,
// joins them with redis-cli --cluster create (--cluster-replicas 1), and
// answers the cluster once every node says cluster_state:ok and every
// replica is in sync. Everything is stopped when the test ends.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatalf("testenv: redis-cli is not on PATH (install the redis-tools package): %v", err)
	}
	c := &Cluster{tb: tb}
	args := []string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", "1000",
		// A replica may be promoted however long it was cut off: a
		// test kills masters of a cluster seconds old.
		"--cluster-replica-validity-factor", "0",
	}
	create := []string{"--cluster", "create"}
	for range 6 {
		n := startNode(tb, args, "")
		c.Nodes = append(c.Nodes, n)
		create = append(create, n.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), topologyStartTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, append(create, "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		waitFor(tb, "cluster node "+n.Addr()+" ok", func(ctx context.Context) error {
			cl := n.client()
			defer cl.Close()
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("cluster_state not ok")
			}
			role, err := cl.Do(ctx, "ROLE").Slice()
			if err != nil {
				return err
			}
			if role[0] == "slave" {
				return linkUp(ctx, n)
			}
			return nil
		})
	}
	return c
}

// URL answers the cluster's redis+cluster:// URL naming every node.
func (c *Cluster) URL() string {
	u := "redis+cluster://" + c.Nodes[0].Addr() + "?"
	for i, n := range c.Nodes[1:] {
		if i > 0 {
			u += "&"
		}
		u += "addr=" + n.Addr()
	}
	return u
}

// MasterFor answers the node a running node names as master of key's slot.
func (c *Cluster) MasterFor(ctx context.Context, key string) (*RedisServer, error) {
	var lastErr error
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		cl := n.client()
		slot, err := cl.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			cl.Close()
			lastErr = err
			continue
		}
		slots, err := cl.ClusterSlots(ctx).Result()
		cl.Close()
		if err != nil {
			lastErr = err
			continue
		}
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
				for _, m := range c.Nodes {
					if m.Addr() == r.Nodes[0].Addr {
						return m, nil
					}
				}
			}
		}
		return nil, fmt.Errorf("no master holds slot %d", slot)
	}
	return nil, fmt.Errorf("no node answers: %w", lastErr)
}

// WaitPromotion polls the running nodes until one other than old is
// master of key's slot, and answers it with when it was first seen (at most
// 20ms late).
func (c *Cluster) WaitPromotion(key string, old *RedisServer, timeout time.Duration) (*RedisServer, time.Time) {
	c.tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		m, err := c.MasterFor(ctx, key)
		cancel()
		if err == nil && m != old {
			return m, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.tb.Fatalf("testenv: the cluster promoted no replica of %s within %v", old.Addr(), timeout)
	return nil, time.Time{}
}
