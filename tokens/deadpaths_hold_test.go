package tokens_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// flakyImages records purges, and fails while down.
type flakyImages struct {
	mu     sync.Mutex
	down   bool
	purged []string
}

func (f *flakyImages) Purge(_ context.Context, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("registry down")
	}
	f.purged = append(f.purged, path)
	return nil
}

func (f *flakyImages) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.purged)
}

// TestDeletedPathHeldForOldTokens: a registry token issued before a
// project's delete stays valid for its lifetime, so its holder could push
// into the path after the purge. The path stays reserved until the last
// such token has expired (plus the registry's leeway), then the images are
// deleted once more and only then is the path released.
func TestDeletedPathHeldForOldTokens(t *testing.T) {
	const lifetime = 5 * time.Minute
	// The registry accepts a token a minute past its expiry.
	const hold = lifetime + time.Minute
	tests := []struct {
		name string
		// down: the registry can't be reached when the project is deleted.
		down       bool
		wantReason string
		// steps: how long after the delete RetryPurges runs, and what it
		// must find: purges made so far, and paths left reserved.
		steps []step
	}{
		{
			name: "purged at once", wantReason: "registry tokens issued before the delete have expired",
			steps: []step{
				{after: 30 * time.Second, purges: 1, left: 1},
				{after: hold - time.Second, purges: 1, left: 1},
				{after: hold, purges: 2, left: 0},
				{after: hold + time.Minute, purges: 2, left: 0},
			},
		},
		{
			name: "purged in the background", down: true, wantReason: "deleted in the background",
			steps: []step{
				{after: 30 * time.Second, up: true, purges: 1, left: 1},
				{after: time.Minute, purges: 1, left: 1},
				{after: hold, purges: 2, left: 0},
			},
		},
		{
			name: "registry down until the tokens expired", down: true, wantReason: "deleted in the background",
			steps: []step{
				{after: 30 * time.Second, purges: 0, left: 1},
				// One purge that starts after the hold is all it takes.
				{after: hold + time.Minute, up: true, purges: 1, left: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s, err := boltstore.Open(filepath.Join(t.TempDir(), "hold.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			deleted := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			now := deleted
			images := &flakyImages{down: tt.down}
			svc := &tokens.Service{Store: s, Images: images, RegistryTokenLifetime: lifetime, Now: func() time.Time { return now }}
			u := tokens.User{Username: "alice", Admin: true, CreatedAt: now}
			if err := s.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
			p := tokens.Project{Path: "img", PathWithNamespace: "old/img", Visibility: tokens.Private, CreatedAt: now}
			if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			got, err := svc.DeleteProject(ctx, &tokens.Actor{User: u, Scopes: []string{"api"}}, "old/img")
			if err != nil {
				t.Fatal(err)
			}
			if !got.PathReserved || !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("DeleteProject = %+v, want the path reserved because %q", got, tt.wantReason)
			}
			for _, st := range tt.steps {
				now = deleted.Add(st.after)
				if st.up {
					images.mu.Lock()
					images.down = false
					images.mu.Unlock()
				}
				left, err := svc.RetryPurges(ctx)
				if err != nil || left != st.left {
					t.Errorf("%v after the delete: RetryPurges = %d, %v; want %d", st.after, left, err, st.left)
				}
				if n := images.count(); n != st.purges {
					t.Errorf("%v after the delete: %d purges, want %d", st.after, n, st.purges)
				}
				ds, err := tokens.DeadPaths(ctx, s)
				if err != nil || len(ds) != st.left {
					t.Errorf("%v after the delete: reserved %+v, %v; want %d", st.after, ds, err, st.left)
				}
			}
		})
	}
}

type step struct {
	after        time.Duration
	up           bool
	purges, left int
}
