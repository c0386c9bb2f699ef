package api

import "testing"

func TestLoneSurrogate(t *testing.T) {
	for _, tc := range []struct {
		json string
		lone bool
	}{
		{`{"a":"plain"}`, false},
		{`{"a":"\ud83d\ude00"}`, false}, // a pair: U+1F600
		{`{"a":"\u00e9\n\"\\"}`, false},
		{`{"a":"\\ud800"}`, false}, // an escaped backslash, then text
		{`{"a":"\ufffd"}`, false},
		{`{"a":"\ud800"}`, true},
		{`{"a":"\udc00"}`, true},
		{`{"a":"x\\\ud800"}`, true}, // an escaped backslash, then an escape
		{`{"a":"\\ufffd\ud800"}`, true},
		{`{"a":"\ud800\u0041"}`, true},
		{`{"a":"\ud800\n"}`, true},
		{`{"a":"\ud800\ud800\udc00"}`, true},
		{`{"a":["ok","\udfff"]}`, true},
		{`{"a":"\ud83d`, true},
	} {
		if got := loneSurrogate([]byte(tc.json)); got != tc.lone {
			t.Errorf("loneSurrogate(%s) = %v, want %v", tc.json, got, tc.lone)
		}
	}
}

func TestDuplicateKey(t *testing.T) {
	for body, want := range map[string]string{
		`{"name":"a","scopes":["x"]}`:           "",
		`{"name":"a","name":"b"}`:               "name",
		`{"a":{"name":1},"name":2}`:             "",
		`{"scopes":["x"],"n":1,"scopes":["y"]}`: "scopes",
		`{"a\u0062":1,"ab":2}`:                  "ab",
	} {
		if got := duplicateKey([]byte(body)); got != want {
			t.Errorf("duplicateKey(%s) = %q, want %q", body, got, want)
		}
	}
}

func TestPrefersText(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"text/plain"}, true},
		{[]string{"TEXT/PLAIN; charset=utf-8"}, true},
		{[]string{"text/*"}, true},
		{[]string{"application/json"}, false},
		{[]string{"*/*"}, false},
		{[]string{"text/plain;q=0, application/json"}, false},
		{[]string{"text/plain;q=0.5, application/json"}, false},
		{[]string{"text/plain, application/json;q=0.5"}, true},
		{[]string{"application/json;q=0.1", "text/plain"}, true},
		{[]string{"text/plain;q=2"}, false},
		{[]string{";;;, text/plain"}, true},
	} {
		if got := prefersText(tc.accept); got != tc.want {
			t.Errorf("prefersText(%q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}
