package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// lastUseInfo is a deploy token's last use as the API answers it.
type lastUseInfo struct {
	ID             int64   `json:"id"`
	LastUsedAt     *string `json:"last_used_at"`
	LastUsedIP     *string `json:"last_used_ip"`
	PreviousSecret *struct {
		LastUsedAt *string `json:"last_used_at"`
		LastUsedIP *string `json:"last_used_ip"`
	} `json:"previous_secret"`
}

// TestLastUseEndToEnd: a pull with the real registry and podman records
// the deploy token's last use and address, written within the coalescing
// window (the flush the server makes at shutdown, triggered here); the use
// of a rotated token's previous secret is shown apart; a PAT's use shows
// last_used_ip; unused_for lists what has gone quiet.
func TestLastUseEndToEnd(t *testing.T) {
	e := startRegistryEnvAt(t, 0, redisConfig(t))
	s := e.s
	ctx := context.Background()
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "puller", "scopes": []string{"read_registry"}})
	var before lastUseInfo
	s.mustAPI(t, 200, "GET", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", d.ID), s.AdminToken, nil, &before)
	if before.LastUsedAt != nil || before.LastUsedIP != nil {
		t.Fatalf("a new token shows a last use: %+v", before)
	}
	pullWith := func(t *testing.T, secret string) {
		t.Helper()
		podman := testenv.Podman(t)
		if err := podman.Login(e.reg.Host(), d.Username, secret); err != nil {
			t.Fatal(err)
		}
		if err := podman.Pull(e.ref("tanuki/app:v1")); err != nil {
			t.Fatal(err)
		}
		if err := s.app.authn.FlushLastUses(ctx); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	t.Run("a pull records the last use", func(t *testing.T) {
		pullWith(t, d.Token)
		var got lastUseInfo
		s.mustAPI(t, 200, "GET", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", d.ID), s.AdminToken, nil, &got)
		if got.LastUsedAt == nil || got.LastUsedIP == nil || *got.LastUsedIP != "127.0.0.1" {
			t.Fatalf("after a pull: %+v", got)
		}
		if at, err := time.Parse(time.RFC3339, *got.LastUsedAt); err != nil || at.Before(start.Add(-time.Second)) || at.After(time.Now()) {
			t.Errorf("last_used_at %s, want during the pull", *got.LastUsedAt)
		}
		stored, err := s.app.store.DeployToken(ctx, 1, d.ID)
		if err != nil || !strings.HasPrefix(stored.LastUsedAgent, "containers/") {
			t.Errorf("stored user agent %q, %v; want podman's", stored.LastUsedAgent, err)
		}
	})

	t.Run("the previous secret's use is shown apart", func(t *testing.T) {
		var rotated deployTokenInfo
		s.mustAPI(t, 200, "POST", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d/rotate", d.ID), s.AdminToken, map[string]any{"grace": "1h"}, &rotated)
		s.remember(rotated.Token)
		var got lastUseInfo
		s.mustAPI(t, 200, "GET", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", d.ID), s.AdminToken, nil, &got)
		if got.PreviousSecret == nil || got.PreviousSecret.LastUsedAt != nil {
			t.Fatalf("after the rotation: %+v, want a previous secret not used since", got.PreviousSecret)
		}
		pullWith(t, d.Token)
		s.mustAPI(t, 200, "GET", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", d.ID), s.AdminToken, nil, &got)
		if got.PreviousSecret == nil || got.PreviousSecret.LastUsedAt == nil || got.PreviousSecret.LastUsedIP == nil || *got.PreviousSecret.LastUsedIP != "127.0.0.1" {
			t.Errorf("after a pull with the old secret: %+v", got.PreviousSecret)
		}
	})

	t.Run("a PAT's last use has its address", func(t *testing.T) {
		_, pat := s.user(t, "watcher")
		s.mustAPI(t, 200, "GET", "/user", pat, nil, nil)
		if err := s.app.authn.FlushLastUses(ctx); err != nil {
			t.Fatal(err)
		}
		var got struct {
			LastUsedAt *string `json:"last_used_at"`
			LastUsedIP *string `json:"last_used_ip"`
		}
		s.mustAPI(t, 200, "GET", "/personal_access_tokens/self", pat, nil, &got)
		if got.LastUsedAt == nil || got.LastUsedIP == nil || *got.LastUsedIP != "127.0.0.1" {
			t.Errorf("PAT after use: %+v", got)
		}
	})

	t.Run("unused_for", func(t *testing.T) {
		s.groupAt(t, s.AdminToken, "corp")
		quiet := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "quiet", "scopes": []string{"read_registry"}})
		gquiet := s.groupDeployToken(t, s.AdminToken, "corp", map[string]any{"name": "gquiet", "scopes": []string{"read_registry"}})
		never := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "never", "scopes": []string{"read_registry"}})
		old := time.Now().Add(-100 * 24 * time.Hour)
		if err := s.app.store.RecordLastUses(ctx, []tokens.LastUse{
			{DeployToken: true, ID: quiet.ID, At: old, IP: "192.0.2.1"},
			{DeployToken: true, ID: gquiet.ID, At: old, IP: "192.0.2.1"},
		}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, path string
			want       []int64
		}{
			{"project, 90 days", "/projects/tanuki%2Fapp/deploy_tokens?unused_for=90d", []int64{quiet.ID}},
			{"project, in seconds", "/projects/tanuki%2Fapp/deploy_tokens?unused_for=7776000", []int64{quiet.ID}},
			{"project, 0: all", "/projects/tanuki%2Fapp/deploy_tokens?unused_for=0", []int64{d.ID, quiet.ID, never.ID}},
			{"group", "/groups/corp/deploy_tokens?unused_for=90d", []int64{gquiet.ID}},
			{"admin", "/deploy_tokens?unused_for=2160h", []int64{quiet.ID, gquiet.ID}},
			{"admin, paged", "/deploy_tokens?unused_for=90d&per_page=1&page=2", []int64{gquiet.ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got []lastUseInfo
				s.mustAPI(t, 200, "GET", tc.path, s.AdminToken, nil, &got)
				ids := []int64{}
				for _, g := range got {
					ids = append(ids, g.ID)
				}
				if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
					t.Errorf("ids %v, want %v", ids, tc.want)
				}
			})
		}
		for _, bad := range []string{"soon", "-1d", "", "1.5d", "-60"} {
			r := s.api(t, "GET", "/projects/tanuki%2Fapp/deploy_tokens?unused_for="+bad, s.AdminToken, nil)
			if r.Status != 400 || !strings.Contains(string(r.Body), "unused_for") {
				t.Errorf("unused_for=%q: %d %s, want 400 naming unused_for", bad, r.Status, r.Body)
			}
		}
	})
}
