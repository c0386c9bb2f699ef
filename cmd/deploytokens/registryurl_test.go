package main

import (
	"io"
	"strings"
	"testing"
)

// TestRegistryURLConfig: the registry's API URL is a bare http(s) origin,
// refused by name otherwise.
func TestRegistryURLConfig(t *testing.T) {
	tests := []struct {
		name, value string
		ok          bool
	}{
		{"unset", "", true},
		{"http", "http://registry:5000", true},
		{"https with a slash", "https://registry.example.com/", true},
		{"not http", "ftp://registry", false},
		{"no host", "http://", false},
		{"a path", "http://registry:5000/v2", false},
		{"credentials", "https://u:p@registry", false},
		{"a query", "https://registry?x=1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"DEPLOYTOKENS_REGISTRY_URL": tt.value}
			cfg, err := loadConfig("serve", nil, func(k string) string { return env[k] }, io.Discard)
			if tt.ok {
				if err != nil || (tt.value != "") != (cfg.registryURL != nil) {
					t.Fatalf("loadConfig: %v (registryURL %v)", err, cfg.registryURL)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "--registry-url (DEPLOYTOKENS_REGISTRY_URL)") {
				t.Fatalf("error %v, want one naming --registry-url", err)
			}
		})
	}
}
