// Command generate writes a boltstore file holding at least one record of
// every kind, through the store of the tree it is built from, so that the
// file shows what that tree writes.
//
// It wrote 2026-12-08.db at commit b74d57a, before boltstore had record
// types of its own; TestFixture in tokens/boltstore checks that the store
// still reads that file the same. Never regenerate a dated fixture: it pins
// what a released build wrote. When the file format changes on purpose, run
// this to write a new fixture beside the old ones:
//
//	go run ./testdata/boltstore/generate testdata/boltstore/YYYY-MM-DD.db
//
// Every digest is a SHA-256 of a label, standing in for a keyed digest, and
// the CI token's sealed secret is fixed bytes: the file holds no secret,
// plaintext or sealed.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: generate <new file>")
		os.Exit(2)
	}
	if err := generate(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

// fakeDigest stands in for the keyed digest of a secret.
func fakeDigest(label string) []byte {
	d := sha256.Sum256([]byte("fixture digest: " + label))
	return d[:]
}

// fakeSealed stands in for a CI token's sealed secret: 64 bytes, the size
// of a nonce, a sealed secret and its tag.
func fakeSealed(label string) []byte {
	a := sha256.Sum256([]byte("fixture sealed: " + label))
	b := sha256.Sum256(a[:])
	return append(a[:], b[:]...)
}

func at(month time.Month, day, hour int) time.Time {
	return time.Date(2026, month, day, hour, 0, 0, 0, time.UTC)
}

func ptr[T any](v T) *T { return &v }

func generate(ctx context.Context, path string) (err error) {
	// A fixture stands for what a build wrote; never overwrite one.
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists; write a new fixture under a new name", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s, err := boltstore.Open(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}()
	must := func(what string, err error) {
		if err != nil {
			panic(fmt.Sprintf("%s: %v", what, err))
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()

	// Users 1-5; alice keeps the case of her username, erin's creation
	// time has nanoseconds and a zone offset.
	users := []tokens.User{
		{Username: "Alice", Name: "Alice Admin", Admin: true, CreatedAt: at(1, 2, 9)},
		{Username: "bob", Name: "Bob Maintainer", CreatedAt: at(1, 3, 9)},
		{Username: "carol", Name: "Carol Developer", CreatedAt: at(1, 4, 9)},
		{Username: "dave", Name: "", CreatedAt: at(1, 5, 9)},
		{Username: "erin", Name: "Erin Guest", CreatedAt: time.Date(2026, 1, 6, 10, 11, 12, 123456789, time.FixedZone("", 3600))},
	}
	for i := range users {
		must("create user "+users[i].Username, s.CreateUser(ctx, &users[i]))
	}
	alice, bob, carol, dave, erin := users[0].ID, users[1].ID, users[2].ID, users[3].ID, users[4].ID

	// PATs 1-4: in use, revoked, expired, never used without expiry.
	pats := []tokens.PersonalAccessToken{
		{UserID: alice, Name: "laptop", Scopes: []string{tokens.ScopeAPI}, CreatedAt: at(2, 1, 8), Digest: fakeDigest("pat laptop")},
		{UserID: bob, Name: "registry", Scopes: []string{tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry}, ExpiresAt: ptr(at(12, 31, 0).AddDate(1, 0, 0)), CreatedAt: at(2, 2, 8), Digest: fakeDigest("pat registry")},
		{UserID: carol, Name: "old", Scopes: []string{tokens.ScopeReadAPI, tokens.ScopeReadRepository}, ExpiresAt: ptr(at(3, 1, 0)), CreatedAt: at(2, 3, 8), Digest: fakeDigest("pat old")},
		{UserID: carol, Name: "git", Scopes: []string{tokens.ScopeReadRepository, tokens.ScopeWriteRepository}, CreatedAt: at(2, 4, 8), Digest: fakeDigest("pat git")},
	}
	for i := range pats {
		must("create pat "+pats[i].Name, s.CreatePAT(ctx, &pats[i]))
	}
	must("touch pat", s.TouchPAT(ctx, pats[0].ID, time.Date(2026, 11, 30, 17, 45, 1, 500, time.UTC)))
	must("touch pat", s.TouchPAT(ctx, pats[1].ID, at(4, 1, 12)))
	must("revoke pat", s.RevokePAT(ctx, pats[1].ID))

	// Projects 1, 2, 3 and 5 of every visibility, nested in groups; 4 is
	// deleted with its members and token, leaving gaps in the sequences.
	owner := func(uid int64, when time.Time) tokens.Member {
		return tokens.Member{UserID: uid, AccessLevel: tokens.Owner, CreatedAt: when}
	}
	projects := []struct {
		p     tokens.Project
		owner int64
	}{
		{tokens.Project{Path: "app", PathWithNamespace: "group/app", Visibility: tokens.Private, CreatorID: alice, CreatedAt: at(3, 1, 9)}, alice},
		{tokens.Project{Path: "lib", PathWithNamespace: "group/sub/lib", Visibility: tokens.Internal, CreatorID: bob, CreatedAt: at(3, 2, 9)}, bob},
		{tokens.Project{Path: "Site", PathWithNamespace: "Public/Site", Visibility: tokens.Public, CreatorID: carol, CreatedAt: at(3, 3, 9)}, carol},
		{tokens.Project{Path: "gone", PathWithNamespace: "group/gone", Visibility: tokens.Private, CreatorID: alice, CreatedAt: at(3, 4, 9)}, alice},
		{tokens.Project{Path: "tool", PathWithNamespace: "group/sub/deep/tool", Visibility: tokens.Private, CreatorID: alice, CreatedAt: at(3, 5, 9)}, alice},
	}
	ids := make([]int64, len(projects))
	for i := range projects {
		p := &projects[i].p
		must("create project "+p.PathWithNamespace, s.CreateProject(ctx, p, owner(projects[i].owner, p.CreatedAt)))
		ids[i] = p.ID
	}
	app, lib, gone := ids[0], ids[1], ids[3]

	// Members of every level.
	members := []tokens.Member{
		{ProjectID: app, UserID: bob, AccessLevel: tokens.Maintainer, CreatedAt: at(4, 1, 9)},
		{ProjectID: app, UserID: carol, AccessLevel: tokens.Developer, CreatedAt: at(4, 2, 9)},
		{ProjectID: app, UserID: dave, AccessLevel: tokens.Reporter, CreatedAt: at(4, 3, 9)},
		{ProjectID: app, UserID: erin, AccessLevel: tokens.Guest, CreatedAt: at(4, 4, 9)},
		{ProjectID: lib, UserID: alice, AccessLevel: tokens.Developer, CreatedAt: at(4, 5, 9)},
		{ProjectID: lib, UserID: carol, AccessLevel: tokens.Owner, CreatedAt: at(4, 6, 9)},
		{ProjectID: gone, UserID: dave, AccessLevel: tokens.Developer, CreatedAt: at(4, 7, 9)},
	}
	for _, m := range members {
		must("put member", s.PutMember(ctx, m))
	}

	// Deploy tokens 1-6; 5 goes with project 4.
	dts := []tokens.DeployToken{
		{ProjectID: app, Name: tokens.CITokenName, Scopes: []string{tokens.ScopeReadRegistry}, CreatedAt: at(5, 1, 9), CreatorID: alice, Digest: fakeDigest("deploy ci"), CISecret: fakeSealed("deploy ci")},
		{ProjectID: app, Name: "pull", Username: "puller", Scopes: []string{tokens.ScopeReadRepository, tokens.ScopeReadRegistry}, ExpiresAt: ptr(time.Date(2027, 6, 30, 23, 59, 59, 0, time.UTC)), CreatedAt: at(5, 2, 9), CreatorID: bob, Digest: fakeDigest("deploy pull")},
		{ProjectID: app, Name: "leaked", Scopes: []string{tokens.ScopeReadRepository}, CreatedAt: at(5, 3, 9), CreatorID: alice, Digest: fakeDigest("deploy leaked")},
		{ProjectID: lib, Name: "expired", Scopes: []string{tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry}, ExpiresAt: ptr(at(6, 1, 0)), CreatedAt: at(5, 4, 9), CreatorID: bob, Digest: fakeDigest("deploy expired")},
		{ProjectID: gone, Name: "doomed", Scopes: []string{tokens.ScopeReadRepository}, CreatedAt: at(5, 5, 9), CreatorID: alice, Digest: fakeDigest("deploy doomed")},
		{ProjectID: ids[4], Name: "all", Scopes: []string{tokens.ScopeReadRepository, tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry}, CreatedAt: time.Date(2026, 5, 6, 9, 0, 0, 987654321, time.FixedZone("", -5*3600)), CreatorID: alice, Digest: fakeDigest("deploy all")},
	}
	for i := range dts {
		must("create deploy token "+dts[i].Name, s.CreateDeployToken(ctx, &dts[i]))
	}
	must("touch deploy token", s.TouchDeployToken(ctx, dts[1].ID, time.Date(2026, 12, 1, 6, 30, 0, 250000000, time.UTC)))
	must("touch deploy token", s.TouchDeployToken(ctx, dts[2].ID, at(7, 1, 9)))
	must("revoke deploy token", s.RevokeDeployToken(ctx, app, dts[2].ID))
	must("delete project", s.DeleteProject(ctx, gone))

	// KV entries: no expiry, an expiry a century away, a counter with an
	// expiry, and one that expired at once.
	const century = 100 * 365 * 24 * time.Hour
	must("kv check", s.Create(ctx, tokens.SecretCheckKey, []byte("fixture-check-value"), 0))
	must("kv session", s.Create(ctx, tokens.SessionKey(fakeDigest("session")), []byte(`{"user_id":1}`), century))
	for range 3 {
		_, err := s.Incr(ctx, tokens.FailKey("192.0.2.7"), century)
		must("kv incr", err)
	}
	must("kv ban", s.Create(ctx, tokens.BanKey("198.51.100.9"), []byte("1767225600"), time.Nanosecond))
	return nil
}
