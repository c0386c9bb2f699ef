package tokens

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3600", time.Hour, true},
		{"0", 0, true},
		{"30m", 30 * time.Minute, true},
		{"24h", 24 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"90d", 90 * 24 * time.Hour, true},
		{" 7d ", 7 * 24 * time.Hour, true},
		{"", 0, false},
		{"-1", 0, false},
		{"-1h", 0, false},
		{"-3d", 0, false},
		{"soon", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"99999999999999999999", 0, false},
		{"100000d", 0, false},
		{"1000000h", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration("grace", tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
			if err != nil && KindOf(err) != KindInvalid {
				t.Errorf("error kind %v, want invalid", KindOf(err))
			}
		})
	}
}

func TestParseGrace(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      time.Duration
		want     time.Duration
		ok       bool
	}{
		{"default", "", 48 * time.Hour, DefaultRotationGrace, true},
		{"zero", "0", 48 * time.Hour, 0, true},
		{"at the bound", "48h", 48 * time.Hour, 48 * time.Hour, true},
		{"over the bound", "49h", 48 * time.Hour, 0, false},
		{"no bound", "700h", 0, 700 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGrace("grace", tc.in, tc.max)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseGrace(%q, %v) = %v, %v; want %v, ok %v", tc.in, tc.max, got, err, tc.want, tc.ok)
			}
		})
	}
}

// FuzzParseDuration: whatever a client sends is a non-negative duration
// within the bound or an invalid-field error, never a panic.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"3600", "24h", "90d", "-1", "1e9", "9223372036854775807", "1h-1m", "0d", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration("unused_for", s)
		if err != nil {
			if KindOf(err) != KindInvalid {
				t.Fatalf("%q: error kind %v", s, KindOf(err))
			}
			return
		}
		if d < 0 || d > maxDuration {
			t.Fatalf("%q: %v out of bounds", s, d)
		}
	})
}

// TestDurationMessages: every value outside the range gets the one
// message stating the real range (the configured grace bound, not ten
// years), however large, and only what is no duration is called so. The
// probe found "must not be negative or longer than 87600h0m0s" for -1h
// with a 168h bound, and "is not a duration" for 9999999h.
func TestDurationMessages(t *testing.T) {
	const week = 168 * time.Hour
	for _, tc := range []struct{ in, want string }{
		{"-1h", "grace must be between 0 and 168h"},
		{"-1", "grace must be between 0 and 168h"},
		{"169h", "grace must be between 0 and 168h"},
		{"9999999h", "grace must be between 0 and 168h"},
		{"99999999999999999999", "grace must be between 0 and 168h"},
		{"8d", "grace must be between 0 and 168h"},
		{"soon", "grace is not a duration"},
		{"1h-1m", "grace is not a duration"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseGrace("grace", tc.in, week)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseGrace(%q) = %v, want %q", tc.in, err, tc.want)
			}
		})
	}
}
