package httpreq

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParseBodyType(t *testing.T) {
	for _, tc := range []struct {
		name     string
		header   http.Header
		mt       string
		status   int
		contains string
	}{
		{name: "none", header: http.Header{}},
		{name: "json", header: http.Header{"Content-Type": {"application/json"}}, mt: "application/json"},
		{name: "utf-8 form", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=UTF-8"}}, mt: "application/x-www-form-urlencoded"},
		{name: "us-ascii", header: http.Header{"Content-Type": {"text/plain; charset=us-ascii"}}, mt: "text/plain"},
		{name: "identity encoding", header: http.Header{"Content-Encoding": {"identity"}, "Content-Type": {"application/json"}}, mt: "application/json"},
		{name: "gzip", header: http.Header{"Content-Encoding": {"identity, gzip"}}, status: 415, contains: `"gzip"`},
		{name: "twice", header: http.Header{"Content-Type": {"a/b", "c/d"}}, status: 400, contains: "more than once"},
		{name: "unparsable", header: http.Header{"Content-Type": {"not a type;;"}}, status: 400, contains: "not a valid media type"},
		{name: "latin-1", header: http.Header{"Content-Type": {"application/json; charset=latin1"}}, status: 415, contains: `"latin1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt, _, err := ParseBodyType(tc.header)
			switch {
			case tc.status == 0 && (err != nil || mt != tc.mt):
				t.Errorf("got %q, %v; want %q", mt, err, tc.mt)
			case tc.status != 0 && (err == nil || err.Status != tc.status || !strings.Contains(err.Message, tc.contains)):
				t.Errorf("got %v; want %d containing %q", err, tc.status, tc.contains)
			}
		})
	}
}

func TestRepeated(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query string
		multi []string
		want  string
	}{
		{name: "none", query: "a=1&b=2"},
		{name: "array", query: "scopes[]=a&scopes[]=b"},
		{name: "allowed", query: "scope=a&scope=b", multi: []string{"scope"}},
		{name: "first by name", query: "z=1&z=2&b=1&b=2", want: "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := Repeated(v, tc.multi...); got != tc.want {
				t.Errorf("Repeated = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzParseBodyType: whatever the headers, a refusal is a 4xx naming the
// problem, never a panic.
func FuzzParseBodyType(f *testing.F) {
	for _, s := range []string{"application/json", "text/plain; charset=utf-8", "a/b; charset=\"x", ";;", "multipart/form-data; boundary=x"} {
		f.Add(s, "identity")
	}
	f.Fuzz(func(t *testing.T, ct, ce string) {
		_, _, err := ParseBodyType(http.Header{"Content-Type": {ct}, "Content-Encoding": {ce}})
		if err != nil && (err.Status < 400 || err.Status > 499 || err.Message == "") {
			t.Fatalf("refusal %d %q", err.Status, err.Message)
		}
	})
}
