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
	backends := &Backends{}
	// Every request here comes from 127.0.0.1: a share per client of
	// two lets one wait behind the holder.
	ts := newTestServer(t, func(c *Config) {
		c.MaxBackends, c.MaxPerClient, c.QueueWait, c.Backends = 1, 2, 200*time.Millisecond, backends
	})
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
	if n := backends.Busy(); n != 1 {
		t.Errorf("Busy() = %d while the holder's backend runs, want 1", n)
	}
	// A request waiting for the slot is seen as waiting, each for up to
	// QueueWait: look until one is seen.
	for deadline, seen := time.Now().Add(5*time.Second), false; !seen; {
		done := make(chan struct{})
		go func() {
			// Not infoRefs: t.Fatal belongs to the test's goroutine.
			defer close(done)
			req, _ := http.NewRequest("GET", ts.URL+"/"+project+".git/info/refs?service=git-upload-pack", nil)
			req.SetBasicAuth("writer", "token-w")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		for waiting := true; waiting && !seen; {
			select {
			case <-done:
				waiting = false
			case <-time.After(time.Millisecond):
				seen = backends.Waiting() == 1
			}
		}
		<-done
		if !seen && time.Now().After(deadline) {
			t.Fatal("Waiting() never answered 1 while a request waited for the slot")
		}
	}
	holder.Close() // the client leaves: its backend is stopped, its slot freed
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp := infoRefs(); resp.StatusCode == http.StatusOK && backends.Busy() == 0 && backends.Waiting() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slot was not freed when its client left")
		}
	}
}
