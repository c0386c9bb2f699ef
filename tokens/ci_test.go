package tokens

import (
	"os/exec"
	"testing"
)

// TestDotenvEvalsInSh feeds the dotenv output to a real sh and reads each
// value back unchanged.
func TestDotenvEvalsInSh(t *testing.T) {
	tests := []struct{ name, value string }{
		{"plain", "dtd_abc"},
		{"single quotes", "it's 'quoted'"},
		{"double quotes", `say "hi"`},
		{"spaces", "a b  c"},
		{"newlines", "line1\nline2\n"},
		{"shell syntax", "$(touch /tmp/pwned) `id` $HOME ; | & \\"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := Dotenv([]CIVariable{{Key: "V", Value: tt.value}}, "export ") + `printf '%s' "$V"`
			out, err := exec.Command("sh", "-c", script).Output()
			if err != nil {
				t.Fatalf("sh: %v", err)
			}
			if string(out) != tt.value {
				t.Fatalf("got %q, want %q", out, tt.value)
			}
		})
	}
}
