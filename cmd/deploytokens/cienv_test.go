package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCIEnvRefusesHostileAnswers: ci-env's output is eval'd, so a variable
// name that is not a shell name is refused, and a redirect does not carry
// the token elsewhere.
func TestCIEnvRefusesHostileAnswers(t *testing.T) {
	var leaked bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = r.Header.Get("PRIVATE-TOKEN") != ""
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "redirect") {
			http.Redirect(w, r, elsewhere.URL, http.StatusFound)
			return
		}
		w.Write([]byte(`[{"key":"X=1;touch /tmp/pwned;Y","value":"v","masked":false}]`))
	}))
	defer srv.Close()
	env := func(k string) string { return map[string]string{"DEPLOYTOKENS_TOKEN": "dtp_x"}[k] }
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"ci-env", "--url", srv.URL, "--project", "a/b"}, env, &out, &errb); code == 0 || out.Len() != 0 {
		t.Fatalf("hostile key accepted: exit %d, %q", code, out.String())
	}
	if code := run(t.Context(), []string{"ci-env", "--url", srv.URL, "--project", "redirect/b"}, env, &out, &errb); code == 0 || leaked {
		t.Fatalf("redirect followed: exit %d, token leaked %v", code, leaked)
	}
	errb.Reset()
	if code := run(t.Context(), []string{"ci-env"}, func(string) string { return "" }, &out, &errb); code == 0 ||
		!strings.Contains(errb.String(), "--url") || !strings.Contains(errb.String(), "DEPLOYTOKENS_TOKEN") {
		t.Fatalf("missing settings: exit %d, %s", code, errb.String())
	}
}
