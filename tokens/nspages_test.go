package tokens_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// readsRecorder is a store that records which whole-list reads it served.
type readsRecorder struct {
	tokens.Store
	reads []string
}

func (r *readsRecorder) ListGroups(ctx context.Context, afterID int64, limit int) ([]tokens.Group, error) {
	r.reads = append(r.reads, "ListGroups")
	return r.Store.ListGroups(ctx, afterID, limit)
}

func (r *readsRecorder) PageGroups(ctx context.Context, p tokens.Page) ([]tokens.Group, int, error) {
	r.reads = append(r.reads, "PageGroups")
	return r.Store.PageGroups(ctx, p)
}

func (r *readsRecorder) ListUsers(ctx context.Context, q tokens.UserQuery) ([]tokens.User, int, error) {
	r.reads = append(r.reads, "ListUsers")
	return r.Store.ListUsers(ctx, q)
}

// TestPageNamespacesReads: GET /namespaces reads what its caller's list
// needs and no more. A non-admin's is their own namespace and the
// subtrees of their memberships, never a walk of every group or user; an
// admin's page is one page of the users index and one of the groups index.
func TestPageNamespacesReads(t *testing.T) {
	ctx := t.Context()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "ns.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	rec := &readsRecorder{Store: s}
	svc := &tokens.Service{Store: rec, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	user := func(name string, admin bool) tokens.User {
		u := tokens.User{Username: name, Name: name, Admin: admin, CreatedAt: now}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	root, alice, bob, carol := user("root", true), user("alice", false), user("bob", false), user("carol", false)
	group := func(path string, parent tokens.Group, owner tokens.User) tokens.Group {
		full := path
		if parent.ID != 0 {
			full = parent.FullPath + "/" + path
		}
		g := tokens.Group{Name: path, Path: path, FullPath: full, ParentID: parent.ID, Visibility: tokens.Private, CreatorID: owner.ID, CreatedAt: now}
		if err := s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		return g
	}
	corp := group("corp", tokens.Group{}, alice)
	team := group("team", corp, alice)
	deep := group("deep", team, alice)
	other := group("other", tokens.Group{}, alice)
	if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: team.ID, UserID: bob.ID, AccessLevel: tokens.Developer, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	userNS := func(u tokens.User) int64 { return tokens.UserNamespaceBase + u.ID }
	pages := []string{"ListUsers", "PageGroups"}

	tests := []struct {
		name  string
		actor tokens.User
		page  tokens.Page
		want  []int64
		total int
		reads []string
	}{
		{"member of a subgroup", bob, tokens.Page{Limit: 20}, []int64{userNS(bob), team.ID, deep.ID}, 3, nil},
		{"owner of two groups", alice, tokens.Page{Limit: 20}, []int64{userNS(alice), corp.ID, team.ID, deep.ID, other.ID}, 5, nil},
		{"member of nothing", carol, tokens.Page{Limit: 20}, []int64{userNS(carol)}, 1, nil},
		{"admin, first page", root, tokens.Page{Limit: 3}, []int64{userNS(root), userNS(alice), userNS(bob)}, 8, pages},
		{"admin, across the split", root, tokens.Page{Offset: 2, Limit: 3}, []int64{userNS(bob), userNS(carol), corp.ID}, 8, pages},
		{"admin, groups only", root, tokens.Page{Offset: 4, Limit: 3}, []int64{corp.ID, team.ID, deep.ID}, 8, pages},
		{"admin, last", root, tokens.Page{Offset: 6, Limit: 3}, []int64{deep.ID, other.ID}, 8, pages},
		{"admin, past the end", root, tokens.Page{Offset: 9, Limit: 3}, nil, 8, pages},
		{"admin, no limit", root, tokens.Page{}, nil, 8, pages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.reads = nil
			ns, total, err := svc.PageNamespaces(ctx, &tokens.Actor{User: tt.actor}, "", tt.page)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, n := range ns {
				got = append(got, n.ID)
			}
			if !slices.Equal(got, tt.want) || total != tt.total {
				t.Errorf("page %+v = %v of %d; want %v of %d", tt.page, got, total, tt.want, tt.total)
			}
			if !slices.Equal(rec.reads, tt.reads) {
				t.Errorf("read %v; want %v", rec.reads, tt.reads)
			}
		})
	}
}
