package redisstore_test

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/redis/go-redis/v9"
)

func benchDigest(i int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	d := sha256.Sum256(b[:])
	return d[:]
}

func usedMemory(b *testing.B, c *redis.Client) int64 {
	b.Helper()
	info, err := c.Info(b.Context(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}

// BenchmarkDeployTokenByDigest measures the hot path of authentication and
// reports the Redis memory each stored deploy token costs.
func BenchmarkDeployTokenByDigest(b *testing.B) {
	const nTokens = 5000
	s, c := startStore(b)
	ctx := b.Context()

	owner := tokens.User{Username: "owner", CreatedAt: time.Now()}
	if err := s.CreateUser(ctx, &owner); err != nil {
		b.Fatal(err)
	}
	p := tokens.Project{Path: "app", PathWithNamespace: "group/app", Visibility: tokens.Private, CreatorID: owner.ID, CreatedAt: time.Now()}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	before := usedMemory(b, c)
	expires := time.Now().Add(365 * 24 * time.Hour)
	for i := range nTokens {
		t := tokens.DeployToken{
			ProjectID: p.ID,
			Name:      "deploy token " + strconv.Itoa(i),
			Scopes:    []string{tokens.ScopeReadRepository, tokens.ScopeReadRegistry},
			ExpiresAt: &expires,
			CreatedAt: time.Now(),
			CreatorID: owner.ID,
			Digest:    benchDigest(i),
		}
		if err := s.CreateDeployToken(ctx, &t); err != nil {
			b.Fatal(err)
		}
	}
	perToken := float64(usedMemory(b, c)-before) / nTokens

	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, err := s.DeployTokenByDigest(ctx, benchDigest(i%nTokens)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perToken, "redis-bytes/token")
}
