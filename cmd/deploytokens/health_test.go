package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

func TestHealthCommand(t *testing.T) {
	s := startServer(t, nil)
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "a running server", args: []string{"--url", s.URL}, wantCode: 0, wantOut: "ok"},
		{name: "from the listen address", env: map[string]string{"DEPLOYTOKENS_LISTEN": s.cfg.Listen}, wantCode: 0, wantOut: "ok"},
		{name: "nothing listening", args: []string{"--url", closed}, wantCode: 1, wantErr: "unhealthy"},
		{name: "a path that is not healthy", args: []string{"--url", s.URL + "/api/v4/nothing"}, wantCode: 1, wantErr: "answered 401"},
		{name: "help", args: []string{"--help"}, wantCode: 0, wantOut: "DEPLOYTOKENS_LISTEN"},
		{name: "stray argument", args: []string{"now"}, wantCode: exitUsage, wantErr: `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			code := run(context.Background(), append([]string{"health"}, tt.args...), getenv, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tt.wantCode, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("stdout %q stderr %q; want %q and %q in them", out.String(), errOut.String(), tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestHealthURL(t *testing.T) {
	tests := []struct {
		listen string
		tls    bool
		want   string
	}{
		{listen: "", want: "http://127.0.0.1:8080"},
		{listen: ":8080", want: "http://127.0.0.1:8080"},
		{listen: "0.0.0.0:9000", tls: true, want: "https://127.0.0.1:9000"},
		{listen: "[::]:9000", want: "http://[::1]:9000"},
		{listen: "10.1.2.3:80", want: "http://10.1.2.3:80"},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			if got := healthURL(tt.listen, tt.tls); got != tt.want {
				t.Errorf("healthURL(%q, %v) = %q, want %q", tt.listen, tt.tls, got, tt.want)
			}
		})
	}
}
