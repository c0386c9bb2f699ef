package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func basic(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

func TestParseBasic(t *testing.T) {
	// 3072 bytes encode to exactly 4*maxCredentialLen characters.
	longest := "u:" + strings.Repeat("s", 3*maxCredentialLen-2)
	tests := []struct {
		name         string
		header       string
		user, secret string
		ok           bool
		err          error
	}{
		{name: "absent", header: ""},
		{name: "bearer", header: "Bearer abc.def.ghi"},
		{name: "other scheme carrying basic credentials", header: "Digest " + base64.StdEncoding.EncodeToString([]byte("u:p"))},
		{name: "scheme only prefix", header: "Basicx " + base64.StdEncoding.EncodeToString([]byte("u:p"))},
		{name: "basic", header: basic("alice:s3cret"), user: "alice", secret: "s3cret", ok: true},
		{name: "lowercase scheme", header: "basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")), user: "alice", secret: "s3cret", ok: true},
		{name: "uppercase scheme", header: "BASIC " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")), user: "alice", secret: "s3cret", ok: true},
		{name: "extra spaces", header: "Basic   " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) + " ", user: "alice", secret: "s3cret", ok: true},
		{name: "password with colons", header: basic("gitlab+deploy-token-1:a:b::c:"), user: "gitlab+deploy-token-1", secret: "a:b::c:", ok: true},
		{name: "empty password", header: basic("alice:"), user: "alice", secret: "", ok: true},
		{name: "utf-8 username", header: basic("jürgen:pw"), user: "jürgen", secret: "pw", ok: true},
		{name: "longest accepted", header: basic(longest), user: "u", secret: longest[2:], ok: true},

		{name: "no credentials", header: "Basic", ok: true, err: errMalformedBasic},
		{name: "empty credentials", header: "Basic ", ok: true, err: errMalformedBasic},
		{name: "bad base64", header: "Basic !!!notbase64", ok: true, err: errMalformedBasic},
		{name: "unpadded base64", header: "Basic " + base64.RawStdEncoding.EncodeToString([]byte("alice:pw")), ok: true, err: errMalformedBasic},
		{name: "url base64", header: "Basic " + base64.URLEncoding.EncodeToString([]byte("a:\xfb\xff")), ok: true, err: errMalformedBasic},
		{name: "no colon", header: basic("alice"), ok: true, err: errMalformedBasic},
		{name: "empty username", header: basic(":s3cret"), ok: true, err: errNoUsername},
		{name: "only colon", header: basic(":"), ok: true, err: errNoUsername},
		{name: "nul in username", header: basic("ali\x00ce:pw"), ok: true, err: errMalformedBasic},
		{name: "cr in username", header: basic("alice\r:pw"), ok: true, err: errMalformedBasic},
		{name: "lf in username", header: basic("alice\nX-Admin: 1:pw"), ok: true, err: errMalformedBasic},
		{name: "invalid utf-8 username", header: basic("al\xffice:pw"), ok: true, err: errMalformedBasic},
		{name: "over-long", header: basic(longest + "x"), ok: true, err: ErrDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, secret, ok, err := ParseBasic(tt.header)
			if ok != tt.ok || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("ParseBasic(%.40q) ok, err = %v, %v; want %v, %v", tt.header, ok, err, tt.ok, tt.err)
			}
			if user != tt.user || secret != tt.secret {
				t.Errorf("ParseBasic(%.40q) = %.40q, %.40q; want %.40q, %.40q", tt.header, user, secret, tt.user, tt.secret)
			}
		})
	}
}

func FuzzParseBasic(f *testing.F) {
	for _, h := range []string{
		"",
		"Bearer x",
		"Basic",
		"Basic ",
		"basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw")),
		basic("alice:s3cret"),
		basic("u:a:b:c"),
		basic(":pw"),
		basic("nocolon"),
		basic("a\x00b:pw"),
		basic("a\r\nb:pw"),
		basic("\xff:pw"),
		"Basic !!!",
		"Basic " + strings.Repeat("QUFB", maxCredentialLen+1),
	} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, header string) {
		user, secret, ok, err := ParseBasic(header)
		if !ok {
			if err != nil {
				t.Fatalf("ok=false with err %v", err)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrDenied) && !errors.Is(err, errMalformedBasic) && !errors.Is(err, errNoUsername) {
				t.Fatalf("err = %v, want ErrDenied, errMalformedBasic or errNoUsername", err)
			}
			if user != "" || secret != "" {
				t.Fatalf("denied header answered %q, %q", user, secret)
			}
			return
		}
		if user == "" || !utf8.ValidString(user) || strings.ContainsAny(user, ":\x00\r\n") {
			t.Fatalf("accepted username %q", user)
		}
		// What was accepted must survive a round trip.
		u2, s2, ok2, err2 := ParseBasic(basic(user + ":" + secret))
		if !ok2 || err2 != nil || u2 != user || s2 != secret {
			t.Fatalf("round trip of %q, %q = %q, %q, %v, %v", user, secret, u2, s2, ok2, err2)
		}
	})
}
