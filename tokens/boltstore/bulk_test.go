package boltstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

var bulkWhen = time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.FixedZone("", 3600))

func bulkDigest(i int) []byte { return fmt.Appendf(nil, "digest-%08d", i) }

// TestBulkLayout loads the same records one by one into one store and in
// bulk into another and checks that the two files hold the same keys and
// values, and that bulk-loaded tokens are found and listed.
func TestBulkLayout(t *testing.T) {
	t.Cleanup(boltstore.SetBulkBatch(7)) // 30 projects, 120 tokens: several batches
	ctx := t.Context()
	expires := bulkWhen.Add(365 * 24 * time.Hour)

	load := func(bulk bool) (*boltstore.Store, []tokens.DeployToken) {
		s := open(t, filepath.Join(t.TempDir(), "deploytokens.db"))
		owner := tokens.User{Username: "owner", CreatedAt: bulkWhen}
		if err := s.CreateUser(ctx, &owner); err != nil {
			t.Fatal(err)
		}
		member := tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: bulkWhen}
		ps := make([]tokens.Project, 30)
		for i := range ps {
			ps[i] = tokens.Project{Path: fmt.Sprintf("p%d", i), PathWithNamespace: fmt.Sprintf("Group%d/p%d", i%7, i),
				Visibility: tokens.Private, CreatorID: owner.ID, CreatedAt: bulkWhen}
		}
		if bulk {
			if err := s.BulkCreateProjects(ctx, ps, member); err != nil {
				t.Fatalf("BulkCreateProjects: %v", err)
			}
		} else {
			for i := range ps {
				if err := s.CreateProject(ctx, &ps[i], member); err != nil {
					t.Fatalf("CreateProject: %v", err)
				}
			}
		}
		var ts []tokens.DeployToken
		for _, p := range ps {
			for j := range 4 {
				n := len(ts)
				tok := tokens.DeployToken{ProjectID: p.ID, Name: fmt.Sprintf("token %d", n),
					Scopes:    []string{tokens.ScopeReadRegistry, tokens.ScopeReadRepository},
					CreatedAt: bulkWhen, CreatorID: owner.ID, Digest: bulkDigest(n)}
				switch j {
				case 1:
					tok.Username, tok.ExpiresAt = fmt.Sprintf("custom-%d", n), &expires
				case 2:
					tok.Name, tok.CISecret = tokens.CITokenName, fmt.Appendf(nil, "sealed\x00%d", n)
				case 3:
					tok.Revoked = true
				}
				ts = append(ts, tok)
			}
		}
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
	one, oneByOne := load(false)
	s, bulk := load(true)

	want, err := one.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("bulk load wrote %d keys, one by one %d", len(got), len(want))
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
			t.Errorf("key %q:\n bulk       %q\n one by one %q", k, g, v)
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
	t.Cleanup(boltstore.SetBulkBatch(7))
	s := open(t, filepath.Join(t.TempDir(), "deploytokens.db"))
	ctx := t.Context()
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
		// undone is a record of the failing batch that must not be stored.
		undone func() error
	}{
		{
			name: "path taken",
			load: func() error {
				return s.BulkCreateProjects(ctx, []tokens.Project{{PathWithNamespace: "g/b"}, {PathWithNamespace: "G/A"}}, member)
			},
			want:   tokens.ErrConflict,
			undone: func() error { _, err := s.ProjectByPath(ctx, "g/b"); return err },
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
					{ProjectID: ps[0].ID, Digest: []byte("fresh")},
					{ProjectID: ps[0].ID, Digest: []byte("taken")},
				})
			},
			want:   tokens.ErrConflict,
			undone: func() error { _, _, err := s.DeployTokenByDigest(ctx, []byte("fresh")); return err },
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
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if tt.undone != nil {
				if err := tt.undone(); !errors.Is(err, tokens.ErrNotFound) {
					t.Errorf("a record of the failing batch: %v, want ErrNotFound (the batch undone)", err)
				}
			}
		})
	}
}
