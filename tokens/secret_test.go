package tokens

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

func testKeys(t testing.TB, seed byte) *Keys {
	t.Helper()
	k, err := NewKeys(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestGenerate(t *testing.T) {
	scanner := regexp.MustCompile(ScannerRegexp)
	for _, kind := range []SecretKind{DeployTokenSecret, PATSecret, RefreshSecret, SessionSecret} {
		t.Run(string(kind), func(t *testing.T) {
			seen := map[Secret]bool{}
			for range 200 {
				s, err := Generate(kind)
				if err != nil {
					t.Fatal(err)
				}
				if seen[s] {
					t.Fatalf("duplicate secret")
				}
				seen[s] = true
				text := s.Reveal()
				if len(text) != len(kind)+EncodedLen {
					t.Fatalf("len %d", len(text))
				}
				if !WellFormed(kind, text) || !scanner.MatchString("x "+text+" y") {
					t.Fatalf("%q does not match its own pattern", text)
				}
			}
		})
	}
}

func TestWellFormed(t *testing.T) {
	tests := []struct {
		name string
		kind SecretKind
		in   string
		want bool
	}{
		{"good", DeployTokenSecret, "dtd_" + strings.Repeat("a2", 16), true},
		{"other kind", PATSecret, "dtd_" + strings.Repeat("a2", 16), false},
		{"short", DeployTokenSecret, "dtd_abc", false},
		{"upper", DeployTokenSecret, "dtd_" + strings.Repeat("A2", 16), false},
		{"bad char", DeployTokenSecret, "dtd_" + strings.Repeat("a1", 16), false},
		{"long", DeployTokenSecret, "dtd_" + strings.Repeat("a2", 17), false},
		{"empty", DeployTokenSecret, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WellFormed(tt.kind, tt.in); got != tt.want {
				t.Fatalf("WellFormed(%q) = %v", tt.in, got)
			}
		})
	}
}

func TestSecretRedacts(t *testing.T) {
	s := Secret("dtd_verysecretvalue")
	var logbuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logbuf, nil)).Info("x", "token", s)
	js, _ := json.Marshal(struct{ T Secret }{s})
	for name, out := range map[string]string{
		"%s": fmt.Sprintf("%s", s), "%v": fmt.Sprintf("%v", s), "%#v": fmt.Sprintf("%#v", s),
		"slog": logbuf.String(), "json": string(js),
	} {
		if strings.Contains(out, "verysecret") {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
	}
	if s.Reveal() != "dtd_verysecretvalue" {
		t.Fatal("Reveal lost the value")
	}
}

func TestDigest(t *testing.T) {
	a, b := testKeys(t, 1), testKeys(t, 2)
	d1, d2 := a.Digest("dtd_x"), a.Digest("dtd_x")
	if !bytes.Equal(d1, d2) || len(d1) != 32 {
		t.Fatalf("digest not stable: %x %x", d1, d2)
	}
	if bytes.Equal(d1, a.Digest("dtd_y")) {
		t.Fatal("different secrets, same digest")
	}
	if bytes.Equal(d1, b.Digest("dtd_x")) {
		t.Fatal("digest does not depend on the server secret")
	}
	if a.Check() == b.Check() || a.Check() != testKeys(t, 1).Check() {
		t.Fatal("check value does not identify the secret")
	}
	if _, err := NewKeys([]byte("short")); err == nil {
		t.Fatal("short server secret accepted")
	}
}

func TestSealForOpenFor(t *testing.T) {
	k := testKeys(t, 1)
	const holder, plain = "dts_session", `{"secret":"dtd_secret"}`
	sealed, err := k.SealFor(plain, holder, "web-flash")
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.OpenFor(sealed, holder, "web-flash")
	if err != nil || got != plain {
		t.Fatalf("OpenFor = %q, %v", got.Reveal(), err)
	}
	again, _ := k.SealFor(plain, holder, "web-flash")
	if bytes.Equal(again, sealed) {
		t.Error("two seals of the same secret are equal: the nonce is not random")
	}
	for _, tt := range []struct {
		name           string
		keys           *Keys
		sealed         []byte
		holder, contxt string
	}{
		{"other holder", k, sealed, "dts_other", "web-flash"},
		{"other context", k, sealed, holder, "other"},
		{"other server secret", testKeys(t, 2), sealed, holder, "web-flash"},
		{"truncated", k, sealed[:5], holder, "web-flash"},
		{"tampered", k, append(bytes.Clone(sealed[:len(sealed)-1]), sealed[len(sealed)-1]^1), holder, "web-flash"},
	} {
		if _, err := tt.keys.OpenFor(tt.sealed, tt.holder, tt.contxt); err == nil {
			t.Errorf("%s: opened", tt.name)
		}
	}
	// Someone with a copy of the store and the server secret, but not the
	// holder's secret, runs GCM's counter mode under every key the server
	// secret gives: no plaintext. (Seal's context is only authenticated, so
	// this reads what Seal sealed.)
	serverSecret := bytes.Repeat([]byte{1}, 32)
	ciSealed, err := k.Seal(plain, holder)
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"deploytokens ci-token v1", "deploytokens holder-seal salt v1", "deploytokens digest v1"} {
		key, err := hkdf.Key(sha256.New, serverSecret, nil, label, 32)
		if err != nil {
			t.Fatal(err)
		}
		if p := gcmKeystreamOpen(t, key, sealed); bytes.Contains(p, []byte("secret")) {
			t.Errorf("%s decrypts a holder seal: %q", label, p)
		}
		// The same attack on Seal works, or it would prove nothing here.
		if p := gcmKeystreamOpen(t, key, ciSealed); label == "deploytokens ci-token v1" && string(p) != plain {
			t.Errorf("the attack does not read Seal's blob (%q)", p)
		}
	}
}

// gcmKeystreamOpen decrypts a nonce-prefixed AES-GCM blob with key by its
// counter mode alone, ignoring the tag and whatever data it authenticates.
func gcmKeystreamOpen(t *testing.T, key, sealed []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	iv := make([]byte, 16)
	copy(iv, sealed[:12])
	iv[15] = 2 // the first counter block after the one the tag uses
	body := sealed[12 : len(sealed)-16]
	out := make([]byte, len(body))
	cipher.NewCTR(block, iv).XORKeyStream(out, body)
	return out
}

func TestSealOpen(t *testing.T) {
	k := testKeys(t, 1)
	sealed, err := k.Seal("dtd_secret", "token:1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("dtd_secret")) {
		t.Fatal("sealed blob holds the plaintext")
	}
	got, err := k.Open(sealed, "token:1")
	if err != nil || got != "dtd_secret" {
		t.Fatalf("Open = %q, %v", got.Reveal(), err)
	}
	tests := []struct {
		name   string
		keys   *Keys
		sealed []byte
		ctx    string
	}{
		{"other context", k, sealed, "token:2"},
		{"other key", testKeys(t, 2), sealed, "token:1"},
		{"truncated", k, sealed[:5], "token:1"},
		{"tampered", k, append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), "token:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.keys.Open(tt.sealed, tt.ctx); err == nil {
				t.Fatal("opened")
			}
		})
	}
}

// TestEqual checks Equal compares secrets byte for byte: token secrets are
// case-sensitive, so a case-folding compare would widen what matches.
func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"same", "abc", "abc", true},
		{"one byte differs", "abc", "abd", false},
		{"prefix", "abc", "ab", false},
		{"differs only in case", "abc", "ABC", false},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func BenchmarkDigest(b *testing.B) {
	k := testKeys(b, 1)
	s, _ := Generate(DeployTokenSecret)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k.Digest(s.Reveal())
		}
	})
}
