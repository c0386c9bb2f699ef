package httperr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLogLevels: an internal failure is logged at error, unless its
// client has left, which makes a failure of what it asked for routine
// (issue 20, finding 8: a disconnect logged "context canceled" at ERROR).
func TestLogLevels(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		clientGone bool
		want       string // the level logged; "": nothing
	}{
		{"internal failure", errors.New("boom"), false, "level=ERROR"},
		{"client gone", fmt.Errorf("lookup: %w", context.Canceled), true, "level=DEBUG"},
		{"client gone, other failure", errors.New("boom"), true, "level=DEBUG"},
		{"client error", BadRequest("bad"), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := httptest.NewRequestWithContext(ctx, "GET", "/x", nil)
			if tt.clientGone {
				cancel()
			}
			Log(r.Context(), log, r, tt.err, Classify(tt.err))
			got := buf.String()
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("logged %q, want %q", got, tt.want)
			}
		})
	}
}
