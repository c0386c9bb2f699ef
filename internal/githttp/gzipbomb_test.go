package githttp

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestGzipBomb: a small gzip body that inflates past MaxInflatedBody (a
// fetch request of endless "have" lines) is answered 413 without a backend
// ever starting, and one that is not gzip at all 400.
func TestGzipBomb(t *testing.T) {
	t.Parallel()
	var backends atomic.Int64
	ts := newTestServer(t, func(c *Config) {
		c.backendExited = func(int, error) { backends.Add(1) }
	})
	if err := ts.repos.Create(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	have := pktLine("have " + strings.Repeat("1234567890", 4) + "\n")
	tests := []struct {
		name       string
		body       func(w io.Writer) error
		wantStatus int
	}{
		{
			// Twice the default bound, some 20 KiB on the wire.
			name: "inflates past the bound",
			body: func(w io.Writer) error {
				zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
				line := []byte(have)
				for n := 0; n <= 2*DefaultMaxInflatedBody; n += len(line) {
					if _, err := zw.Write(line); err != nil {
						return err
					}
				}
				return zw.Close()
			},
			wantStatus: http.StatusRequestEntityTooLarge,
		},
		{
			name: "not gzip",
			body: func(w io.Writer) error {
				_, err := io.WriteString(w, have+"0000")
				return err
			},
			wantStatus: http.StatusBadRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(tt.body(pw)) }()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+"/"+project+".git/git-upload-pack", pr)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth("reader", "token-r")
			req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
			req.Header.Set("Content-Encoding", "gzip")
			before := backends.Load()
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d; body %q", resp.StatusCode, tt.wantStatus, body)
			}
			if n := backends.Load() - before; n != 0 {
				t.Errorf("%d backends ran for a refused body", n)
			}
		})
	}
}
