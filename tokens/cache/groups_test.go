package cache_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// groupOwner answers a member entry for the env's user as an owner.
func (e *cacheEnv) groupOwner(ctx context.Context) (tokens.GroupMember, error) {
	u, err := e.other.UserByUsername(ctx, "u")
	return tokens.GroupMember{UserID: u.ID, AccessLevel: tokens.Owner}, err
}

// groupToken creates a group at path, owned by the env's user, with a
// deploy token named name.
func (e *cacheEnv) groupToken(t *testing.T, path, name string) (tokens.Group, tokens.DeployToken) {
	t.Helper()
	ctx := t.Context()
	owner, err := e.groupOwner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g := tokens.Group{Name: path, Path: path, FullPath: path, Visibility: tokens.Private}
	if err := e.other.CreateGroup(ctx, &g, owner); err != nil {
		t.Fatal(err)
	}
	d := tokens.DeployToken{GroupID: g.ID, Name: name, Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte("digest of " + name)}
	if err := e.other.CreateDeployToken(ctx, &d); err != nil {
		t.Fatal(err)
	}
	return g, d
}

// TestCacheGroupTokens: a group token is answered from memory with its
// group, and revoking it or deleting its group, through another replica
// or this one, is seen as a project token's revocation is.
func TestCacheGroupTokens(t *testing.T) {
	e := newCacheEnv(t, 100)
	ctx := t.Context()
	raw := redis.NewClient(&redis.Options{Addr: e.srv.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	gen := func() string { return raw.Get(ctx, redisstore.DefaultPrefix+"{dt}:gen").Val() }

	g, d := e.groupToken(t, "corp", "a")
	e.warm(t, "1.2.3.4", d)
	a, err, n := e.lookup(t, "1.2.3.4", d)
	if err != nil || n != 0 || !a.Found || a.Group.ID != g.ID || a.Group.FullPath != "corp" || a.Project.ID != 0 {
		t.Fatalf("cached group token: %d lookups in Redis, found %v, group %+v, project %d, %v", n, a.Found, a.Group, a.Project.ID, err)
	}

	// Writes that change nothing leave the generation alone.
	before := gen()
	for name, do := range map[string]func() error{
		"revoke in another group":  func() error { return e.other.RevokeGroupDeployToken(ctx, g.ID+1, d.ID) },
		"delete a missing group":   func() error { return e.other.DeleteGroup(ctx, g.ID+100) },
		"delete a non-empty group": func() error { return e.deleteNonEmpty(ctx, g) },
	} {
		_ = do()
		if gen() != before {
			t.Errorf("%s: set a new generation", name)
		}
	}

	if err := e.other.RevokeGroupDeployToken(ctx, g.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revocation of a group token", func() bool {
		a, err, _ := e.lookup(t, "1.2.3.4", d)
		return err == nil && a.Token.Revoked
	})

	h, kept := e.groupToken(t, "team", "b")
	e.warm(t, "1.2.3.4", kept)
	if err := e.other.DeleteGroup(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "group deletion", func() bool {
		a, err, _ := e.lookup(t, "1.2.3.4", kept)
		return err == nil && !a.Found
	})

	// This replica's own writes are seen at the very next lookup.
	for i, write := range []func(g tokens.Group, d tokens.DeployToken) error{
		func(g tokens.Group, d tokens.DeployToken) error {
			return e.cached.RevokeGroupDeployToken(ctx, g.ID, d.ID)
		},
		func(g tokens.Group, _ tokens.DeployToken) error { return e.cached.DeleteGroup(ctx, g.ID) },
	} {
		g, d := e.groupToken(t, fmt.Sprint("own", i), fmt.Sprint("own token ", i))
		e.warm(t, "1.2.3.4", d)
		if err := write(g, d); err != nil {
			t.Fatal(err)
		}
		if a, err, n := e.lookup(t, "1.2.3.4", d); err != nil || n != 1 || (a.Found && !a.Token.Revoked) {
			t.Fatalf("write %d: next lookup after this replica's write: found %v, revoked %v, %d lookups in Redis, %v", i, a.Found, a.Token.Revoked, n, err)
		}
	}
}

// deleteNonEmpty tries to delete g while a subgroup is in it, which the
// store refuses.
func (e *cacheEnv) deleteNonEmpty(ctx context.Context, g tokens.Group) error {
	owner, err := e.groupOwner(ctx)
	if err != nil {
		return err
	}
	sub := tokens.Group{Name: "sub", Path: "sub", FullPath: g.FullPath + "/sub", ParentID: g.ID, Visibility: tokens.Private}
	if err := e.other.CreateGroup(ctx, &sub, owner); err != nil {
		return err
	}
	return e.other.DeleteGroup(ctx, g.ID)
}
