package githttp

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMaxBackends: with one backend allowed, a request waits while another
// holds it (here a fetch whose body never ends), gets 503 with a
// Retry-After when the wait runs out, and is served once the slot is free.
func TestMaxBackends(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.MaxBackends, c.QueueWait = 1, 200*time.Millisecond })
	if err := ts.repos.Create(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	holder, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	fmt.Fprintf(holder, "POST /%s.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic d3JpdGVyOnRva2VuLXc=\r\n"+
		"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000\r\n\r\n0032want ", project)

	infoRefs := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/"+project+".git/info/refs?service=git-upload-pack", nil)
		req.SetBasicAuth("writer", "token-w")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// The holder's backend may take a moment to start: until it has the
	// slot, info/refs may still be served.
	var busy *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		if resp := infoRefs(); resp.StatusCode == http.StatusServiceUnavailable {
			busy = resp
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("info/refs was served while the only backend was held")
		}
	}
	if busy.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %v", busy.Header)
	}
	holder.Close() // the client leaves: its backend is stopped, its slot freed
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp := infoRefs(); resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slot was not freed when its client left")
		}
	}
}
