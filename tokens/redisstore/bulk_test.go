package redisstore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

var bulkWhen = time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.FixedZone("", 3600))

// bulkFixture answers projects and tokens (for those projects, in order)
// covering every field a deploy token record may hold.
func bulkFixture(projects, tokensPerProject int) ([]tokens.Project, func(pids []int64) []tokens.DeployToken) {
	ps := make([]tokens.Project, projects)
	for i := range ps {
		ps[i] = tokens.Project{
			Path: fmt.Sprintf("p%d", i), PathWithNamespace: fmt.Sprintf("Group%d/p%d", i%7, i),
			Visibility: tokens.Private, CreatorID: 1, CreatedAt: bulkWhen,
		}
	}
	expires := bulkWhen.Add(365 * 24 * time.Hour)
	tokens := func(pids []int64) []tokens.DeployToken {
		var ts []tokens.DeployToken
		for _, pid := range pids {
			for j := range tokensPerProject {
				n := len(ts)
				t := tokens.DeployToken{
					ProjectID: pid, Name: fmt.Sprintf("token %d", n),
					Scopes:    []string{tokens.ScopeReadRegistry, tokens.ScopeReadRepository},
					CreatedAt: bulkWhen, CreatorID: 1, Digest: benchDigest(n),
				}
				switch j % 4 {
				case 1:
					t.Username, t.ExpiresAt = fmt.Sprintf("custom-%d", n), &expires
				case 2:
					t.Name, t.CISecret = tokens.CITokenName, []byte(fmt.Sprintf("sealed\x00%d", n))
				case 3:
					t.Revoked = true
				}
				ts = append(ts, t)
			}
		}
		return ts
	}
	return ps, tokens
}

// keyspace answers every key under prefix (without it) with its value in a
// canonical form, so two keyspaces compare with ==.
func keyspace(t *testing.T, c *redis.Client, prefix string) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for it.Next(ctx) {
		k := it.Val()
		var v string
		switch typ := c.Type(ctx, k).Val(); typ {
		case "string":
			v = fmt.Sprintf("%q", c.Get(ctx, k).Val())
		case "hash":
			var fs []string
			for f, val := range c.HGetAll(ctx, k).Val() {
				fs = append(fs, fmt.Sprintf("%q=%q", f, val))
			}
			slices.Sort(fs)
			v = "hash " + strings.Join(fs, " ")
		case "set":
			ms := c.SMembers(ctx, k).Val()
			slices.Sort(ms)
			v = fmt.Sprintf("set %q", ms)
		case "zset":
			v = fmt.Sprintf("zset %q", c.ZRange(ctx, k, 0, -1).Val())
		default:
			t.Fatalf("key %q has unexpected type %s", k, typ)
		}
		out[strings.TrimPrefix(k, prefix)] = v
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBulkLayout loads the same records one by one into one store and in
// bulk into another and checks that the two keyspaces are identical, and
// that bulk-loaded tokens are found and listed.
func TestBulkLayout(t *testing.T) {
	srv := testenv.StartRedisProcess(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()
	// 30 projects of 4 tokens cross several batch boundaries.
	t.Cleanup(redisstore.SetBulkBatch(7))
	ps, tokensFor := bulkFixture(30, 4)

	load := func(prefix string, bulk bool) (*redisstore.Store, []tokens.DeployToken) {
		s := redisstore.NewFromClient(redis.NewClient(&redis.Options{Addr: srv.Addr()}), redisstore.Options{Prefix: prefix})
		t.Cleanup(func() { _ = s.Close() })
		owner := tokens.User{Username: "owner", CreatedAt: bulkWhen}
		if err := s.CreateUser(ctx, &owner); err != nil {
			t.Fatal(err)
		}
		member := tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: bulkWhen}
		projects := slices.Clone(ps)
		if bulk {
			if err := s.BulkCreateProjects(ctx, projects, member); err != nil {
				t.Fatalf("BulkCreateProjects: %v", err)
			}
		} else {
			for i := range projects {
				if err := s.CreateProject(ctx, &projects[i], member); err != nil {
					t.Fatalf("CreateProject: %v", err)
				}
			}
		}
		pids := make([]int64, len(projects))
		for i, p := range projects {
			pids[i] = p.ID
		}
		ts := tokensFor(pids)
		if bulk {
			if err := s.BulkCreateDeployTokens(ctx, ts); err != nil {
				t.Fatalf("BulkCreateDeployTokens: %v", err)
			}
		} else {
			for i := range ts {
				if err := s.CreateDeployToken(ctx, &ts[i]); err != nil {
					t.Fatalf("CreateDeployToken: %v", err)
				}
			}
		}
		return s, ts
	}
	_, oneByOne := load("one:", false)
	s, bulk := load("bulk:", true)

	want, got := keyspace(t, c, "one:"), keyspace(t, c, "bulk:")
	if len(got) != len(want) {
		t.Errorf("bulk load wrote %d keys, one by one %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("key %q:\n bulk       %s\n one by one %s", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("bulk load wrote key %q that one by one did not", k)
		}
	}
	if !slices.EqualFunc(bulk, oneByOne, func(a, b tokens.DeployToken) bool { return a.ID == b.ID && a.Username == b.Username }) {
		t.Errorf("bulk load answered other IDs or usernames than one by one")
	}

	t.Run("found by digest", func(t *testing.T) {
		for _, i := range []int{0, 1, 2, len(bulk) - 1} {
			tok, p, err := s.DeployTokenByDigest(ctx, bulk[i].Digest)
			if err != nil {
				t.Fatalf("DeployTokenByDigest(token %d): %v", i, err)
			}
			if tok.ID != bulk[i].ID || tok.Username != bulk[i].Username || p.ID != bulk[i].ProjectID {
				t.Errorf("DeployTokenByDigest(token %d) = token %d %q of project %d, want %d %q of %d",
					i, tok.ID, tok.Username, p.ID, bulk[i].ID, bulk[i].Username, bulk[i].ProjectID)
			}
		}
	})
	t.Run("listed", func(t *testing.T) {
		last := bulk[len(bulk)-1]
		list, err := s.ListDeployTokens(ctx, last.ProjectID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 4 || list[3].ID != last.ID {
			t.Errorf("ListDeployTokens(%d) = %d tokens, want 4 ending with %d", last.ProjectID, len(list), last.ID)
		}
		all, err := s.ListAllDeployTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(bulk) {
			t.Errorf("ListAllDeployTokens = %d tokens, want %d", len(all), len(bulk))
		}
	})
}

func TestBulkErrors(t *testing.T) {
	s, _ := startStore(t)
	ctx := t.Context()
	t.Cleanup(redisstore.SetBulkBatch(7))
	owner := tokens.User{Username: "owner"}
	if err := s.CreateUser(ctx, &owner); err != nil {
		t.Fatal(err)
	}
	member := tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner}
	ps := []tokens.Project{{PathWithNamespace: "g/a"}}
	if err := s.BulkCreateProjects(ctx, ps, member); err != nil {
		t.Fatal(err)
	}
	if err := s.BulkCreateDeployTokens(ctx, []tokens.DeployToken{{ProjectID: ps[0].ID, Digest: []byte("taken")}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		load func() error
		want error
		// stored is a record of the same batch, after the failing one,
		// that must be stored anyway.
		stored func() error
	}{
		{
			name: "path taken",
			load: func() error {
				return s.BulkCreateProjects(ctx, []tokens.Project{{PathWithNamespace: "G/A"}, {PathWithNamespace: "g/b"}}, member)
			},
			want:   tokens.ErrConflict,
			stored: func() error { _, err := s.ProjectByPath(ctx, "g/b"); return err },
		},
		{
			name: "owner missing",
			load: func() error {
				return s.BulkCreateProjects(ctx, []tokens.Project{{PathWithNamespace: "g/c"}}, tokens.Member{UserID: 999, AccessLevel: tokens.Owner})
			},
			want: tokens.ErrNotFound,
		},
		{
			name: "digest taken",
			load: func() error {
				return s.BulkCreateDeployTokens(ctx, []tokens.DeployToken{
					{ProjectID: ps[0].ID, Digest: []byte("taken")},
					{ProjectID: ps[0].ID, Digest: []byte("fresh")},
				})
			},
			want:   tokens.ErrConflict,
			stored: func() error { _, _, err := s.DeployTokenByDigest(ctx, []byte("fresh")); return err },
		},
		{
			name: "project missing",
			load: func() error {
				return s.BulkCreateDeployTokens(ctx, []tokens.DeployToken{{ProjectID: 999, Digest: []byte("orphan")}})
			},
			want: tokens.ErrNotFound,
		},
		{
			name: "empty digest",
			load: func() error {
				return s.BulkCreateDeployTokens(ctx, []tokens.DeployToken{{ProjectID: ps[0].ID}})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load()
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("error %v, want %v", err, cmpOr(tt.want, "an error"))
			}
			if tt.stored != nil {
				if err := tt.stored(); err != nil {
					t.Errorf("the record after the failing one: %v", err)
				}
			}
		})
	}
}

func cmpOr(err error, alt string) any {
	if err != nil {
		return err
	}
	return alt
}
