package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestStoreTimeoutSetting reads --store-timeout from its flag and variable,
// refuses what would make every request fail or wait for ever, and lists it
// in serve --help.
func TestStoreTimeoutSetting(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
		bad  bool
	}{
		{name: "default", want: time.Second},
		{name: "flag", args: []string{"--store-timeout", "250ms"}, want: 250 * time.Millisecond},
		{name: "env", env: map[string]string{"DEPLOYTOKENS_STORE_TIMEOUT": "3s"}, want: 3 * time.Second},
		{name: "too short", args: []string{"--store-timeout", "1ms"}, bad: true},
		{name: "too long", env: map[string]string{"DEPLOYTOKENS_STORE_TIMEOUT": "2h"}, bad: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig("serve", tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.bad {
				if err == nil || !strings.Contains(err.Error(), "--store-timeout") || !strings.Contains(err.Error(), "DEPLOYTOKENS_STORE_TIMEOUT") {
					t.Fatalf("error %v, want one naming --store-timeout", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.StoreTimeout != tt.want {
				t.Errorf("StoreTimeout %v, want %v", cfg.StoreTimeout, tt.want)
			}
		})
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, func(string) string { return "" }, &out, &out); code != 0 {
		t.Fatalf("serve --help: exit %d", code)
	}
	if !strings.Contains(out.String(), "DEPLOYTOKENS_STORE_TIMEOUT") {
		t.Error("serve --help lacks DEPLOYTOKENS_STORE_TIMEOUT")
	}
}
