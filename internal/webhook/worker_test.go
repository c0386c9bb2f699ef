package webhook

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	w := &Worker{Backoff: 10 * time.Second, MaxBackoff: 6 * time.Hour}
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{
		{1, 10 * time.Second},
		{2, time.Minute},
		{3, 6 * time.Minute},
		{4, 36 * time.Minute},
		{5, 216 * time.Minute},
		{6, 6 * time.Hour},
		{50, 6 * time.Hour},
	} {
		t.Run(tc.want.String(), func(t *testing.T) {
			if got := w.backoff(tc.attempt); got != tc.want {
				t.Fatalf("backoff(%d) = %s, want %s", tc.attempt, got, tc.want)
			}
		})
	}
}
