package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// TestUnknownDigestReadsTheDecoy: the fused auth reads decode as many
// records for an unknown digest (the decoy's, read in place of a token
// and its owner) as for a found token, in one read transaction either
// way, so a miss is not answered sooner (issue 20, finding 6); in a new
// file and in one written before the decoy existed, which gets it at
// open.
func TestUnknownDigestReadsTheDecoy(t *testing.T) {
	ctx := t.Context()
	newFile := func(t *testing.T) (*boltstore.Store, []byte, []byte) {
		s := open(t, filepath.Join(t.TempDir(), "deploytokens.db"))
		u := tokens.User{Username: "alice"}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		p := tokens.Project{PathWithNamespace: "g/app", Visibility: tokens.Private}
		if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
			t.Fatal(err)
		}
		d := tokens.DeployToken{ProjectID: p.ID, Name: "ci", Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte("dt-digest")}
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
		pat := tokens.PersonalAccessToken{UserID: u.ID, Name: "laptop", Scopes: []string{tokens.ScopeAPI}, Digest: []byte("pat-digest")}
		if err := s.CreatePAT(ctx, &pat); err != nil {
			t.Fatal(err)
		}
		return s, d.Digest, pat.Digest
	}
	oldFile := func(t *testing.T) (*boltstore.Store, []byte, []byte) {
		return openFixture(t, "2026-12-08.db"), fixtureDigest("deploy pull"), fixtureDigest("pat laptop")
	}
	type work struct{ txs, records int64 }
	measure := func(t *testing.T, s *boltstore.Store, read func() bool) (work, bool) {
		t.Helper()
		txs, _, _ := s.Ops()
		records := s.AuthRecords()
		found := read()
		txs2, _, _ := s.Ops()
		return work{txs2 - txs, s.AuthRecords() - records}, found
	}
	for _, file := range []struct {
		name string
		open func(t *testing.T) (*boltstore.Store, []byte, []byte)
	}{{"new file", newFile}, {"file from before the decoy", oldFile}} {
		t.Run(file.name, func(t *testing.T) {
			s, dtDigest, patDigest := file.open(t)
			deployToken := func(digest []byte) func() bool {
				return func() bool {
					a, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: digest, Username: "x", Addr: "192.0.2.1"})
					if err != nil {
						t.Fatal(err)
					}
					return a.Found
				}
			}
			personal := func(digest []byte) func() bool {
				return func() bool {
					a, err := s.PATForAuth(ctx, tokens.PATAuthQuery{Digest: digest, Addr: "192.0.2.1"})
					if err != nil {
						t.Fatal(err)
					}
					return a.Found
				}
			}
			tests := []struct {
				name        string
				found, miss func() bool
			}{
				{"deploy token", deployToken(dtDigest), deployToken([]byte("unknown"))},
				{"personal access token", personal(patDigest), personal([]byte("unknown"))},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					hit, found := measure(t, s, tt.found)
					if !found || hit.records != 2 {
						t.Fatalf("found %v decoding %d records, want the token and its owner", found, hit.records)
					}
					miss, found := measure(t, s, tt.miss)
					if found {
						t.Fatal("an unknown digest was found")
					}
					if miss != hit {
						t.Errorf("an unknown digest cost %+v, a found token %+v", miss, hit)
					}
				})
			}
		})
	}
}
