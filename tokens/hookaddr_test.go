package tokens_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestPrivateAddr: the addresses a webhook may not reach, IPv4 ones
// written as IPv6 included (a NAT64 gateway or a 6to4 relay would deliver
// them), and public ones that stay allowed. The IPv6 forms, the reserved
// and benchmarking ranges were let through before the review.
func TestPrivateAddr(t *testing.T) {
	tests := []struct {
		addr    string
		private bool
	}{
		{"127.0.0.1", true}, {"10.1.2.3", true}, {"169.254.169.254", true}, {"100.64.0.1", true},
		{"0.0.0.0", true}, {"0.1.2.3", true}, {"198.18.0.1", true}, {"240.0.0.1", true}, {"255.255.255.255", true},
		{"::1", true}, {"::", true}, {"fe80::1", true}, {"fc00::1", true}, {"::ffff:127.0.0.1", true},
		{"64:ff9b::7f00:1", true}, {"64:ff9b::a00:1", true}, {"2002:7f00:1::", true}, {"::127.0.0.1", true},
		{"93.184.216.34", false}, {"2606:2800:220:1:248:1893:25c8:1946", false},
		{"64:ff9b::5db8:d822", false}, {"2002:5db8:d822::", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := tokens.PrivateAddr(netip.MustParseAddr(tt.addr)); got != tt.private {
				t.Fatalf("PrivateAddr(%s) = %v, want %v", tt.addr, got, tt.private)
			}
		})
	}
}

// TestHookInputRefused: a hook URL whose port is no port, and a hook
// token a header cannot carry (every delivery would fail), are refused
// naming the field, not stored. Found in the probe.
func TestHookInputRefused(t *testing.T) {
	ctx := context.Background()
	bolt, keys := openStore(t)
	svc := &tokens.Service{Store: bolt, Keys: keys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	root := tokens.User{Username: "root", Name: "root", Admin: true, CreatedAt: time.Now()}
	if err := bolt.CreateUser(ctx, &root); err != nil {
		t.Fatal(err)
	}
	admin := &tokens.Actor{User: root, Scopes: []string{tokens.ScopeAPI}}
	if _, err := svc.CreateProject(ctx, admin, tokens.CreateProjectInput{Path: "app", NamespacePath: "tanuki"}); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	tests := []struct {
		name, field string
		in          tokens.HookInput
	}{
		{"port above 65535", "url", tokens.HookInput{URL: str("http://93.184.216.34:99999/")}},
		{"port 0", "url", tokens.HookInput{URL: str("http://93.184.216.34:0/")}},
		{"token with a line break", "token", tokens.HookInput{URL: str("http://93.184.216.34/"), Token: str("abc\r\nX-Injected: 1")}},
		{"token with NUL", "token", tokens.HookInput{URL: str("http://93.184.216.34/"), Token: str("a\x00b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.CreateHook(ctx, admin, "tanuki/app", "", tt.in)
			var de *tokens.Error
			if !errors.As(err, &de) || de.Kind != tokens.KindInvalid || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("CreateHook: %v, want a KindInvalid error naming %s", err, tt.field)
			}
		})
	}
	if hs, err := svc.ListHooks(ctx, admin, "tanuki/app", ""); err != nil || len(hs) != 0 {
		t.Fatalf("hooks stored: %v %v", hs, err)
	}
	// At most MaxHooks, as GitLab: each is a delivery of every event.
	for i := range tokens.MaxHooks {
		if _, err := svc.CreateHook(ctx, admin, "tanuki/app", "", tokens.HookInput{URL: str("http://93.184.216.34/" + strconv.Itoa(i))}); err != nil {
			t.Fatalf("hook %d: %v", i, err)
		}
	}
	_, err := svc.CreateHook(ctx, admin, "tanuki/app", "", tokens.HookInput{URL: str("http://93.184.216.34/over")})
	if de, ok := errors.AsType[*tokens.Error](err); !ok || de.Kind != tokens.KindInvalid || !strings.Contains(err.Error(), "at most 100") {
		t.Fatalf("hook past the cap: %v", err)
	}
}
