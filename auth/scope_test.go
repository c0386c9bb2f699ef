package auth

import (
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestParseScope(t *testing.T) {
	long := strings.Repeat("a", 250)
	tests := []struct {
		name string
		in   string
		want Scope
		ok   bool
	}{
		{name: "pull", in: "repository:foo/bar:pull", want: Scope{Type: "repository", Name: "foo/bar", Actions: []string{"pull"}}, ok: true},
		{name: "pull and push", in: "repository:group/project:pull,push", want: Scope{Type: "repository", Name: "group/project", Actions: []string{"pull", "push"}}, ok: true},
		{name: "every action", in: "repository:a/b:push,pull,delete,*", want: Scope{Type: "repository", Name: "a/b", Actions: []string{"push", "pull", "delete", "*"}}, ok: true},
		{name: "host and port in name", in: "repository:localhost:5000/foo/bar:pull", want: Scope{Type: "repository", Name: "localhost:5000/foo/bar", Actions: []string{"pull"}}, ok: true},
		{name: "ipv6 host in name", in: "repository:[::1]:5000/foo:pull", want: Scope{Type: "repository", Name: "[::1]:5000/foo", Actions: []string{"pull"}}, ok: true},
		{name: "class", in: "repository(plugin):foo/bar:pull", want: Scope{Type: "repository", Class: "plugin", Name: "foo/bar", Actions: []string{"pull"}}, ok: true},
		{name: "single component is not normalized", in: "repository:ubuntu:pull", want: Scope{Type: "repository", Name: "ubuntu", Actions: []string{"pull"}}, ok: true},
		{name: "docker.io is not stripped", in: "repository:docker.io/library/ubuntu:pull", want: Scope{Type: "repository", Name: "docker.io/library/ubuntu", Actions: []string{"pull"}}, ok: true},
		{name: "separators", in: "repository:a.b/c_d/e__f/g-h/i--j:pull", want: Scope{Type: "repository", Name: "a.b/c_d/e__f/g-h/i--j", Actions: []string{"pull"}}, ok: true},
		{name: "unknown actions dropped", in: "repository:foo/bar:pull,admin,PUSH,,write", want: Scope{Type: "repository", Name: "foo/bar", Actions: []string{"pull"}}, ok: true},
		{name: "duplicate actions merged", in: "repository:foo/bar:pull,pull,push,pull", want: Scope{Type: "repository", Name: "foo/bar", Actions: []string{"pull", "push"}}, ok: true},
		{name: "catalog", in: "registry:catalog:*", want: Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}, ok: true},
		{name: "name of 255 characters", in: "repository:" + long + "/abcd:pull", want: Scope{Type: "repository", Name: long + "/abcd", Actions: []string{"pull"}}, ok: true},

		{name: "empty", in: ""},
		{name: "no colon", in: "repository"},
		{name: "one colon", in: "repository:foo/bar"},
		{name: "no actions", in: "repository:foo/bar:"},
		{name: "only unknown actions", in: "repository:foo/bar:admin,write"},
		{name: "empty type", in: ":foo/bar:pull"},
		{name: "empty name", in: "repository::pull"},
		{name: "unknown type", in: "image:foo/bar:pull"},
		{name: "uppercase type", in: "Repository:foo/bar:pull"},
		{name: "empty class", in: "repository():foo/bar:pull"},
		{name: "unclosed class", in: "repository(plugin:foo/bar:pull"},
		{name: "class without type", in: "(plugin):foo/bar:pull"},
		{name: "uppercase class", in: "repository(Plugin):foo/bar:pull"},
		{name: "nested class", in: "repository(a(b)):foo/bar:pull"},
		{name: "uppercase single component", in: "repository:Foo:pull"},
		{name: "uppercase first component", in: "repository:Foo/bar:pull"},
		{name: "uppercase last component", in: "repository:foo/Bar:pull"},
		{name: "uppercase host", in: "repository:Registry.example.com/foo:pull"},
		{name: "uppercase ipv6 host", in: "repository:[::A]:5000/foo:pull"},
		{name: "dot dot", in: "repository:foo/../bar:pull"},
		{name: "double dot in component", in: "repository:foo..bar:pull"},
		{name: "empty component", in: "repository:foo//bar:pull"},
		{name: "leading slash", in: "repository:/foo:pull"},
		{name: "trailing slash", in: "repository:foo/bar/:pull"},
		{name: "tag", in: "repository:foo/bar:latest:pull"},
		{name: "numeric tag looks like a port", in: "repository:foo:5000:pull"},
		{name: "digest", in: "repository:foo/bar@sha256:" + strings.Repeat("a", 64) + ":pull"},
		{name: "space in name", in: "repository:foo bar:pull"},
		{name: "name of 256 characters", in: "repository:" + long + "/abcde:pull"},
		{name: "host makes name longer than 255", in: "repository:" + strings.Repeat("h", 200) + ".example.com/" + strings.Repeat("p", 200) + ":pull"},
		{name: "registry name other than catalog", in: "registry:other:*"},
		{name: "over-long scope", in: "repository:foo/bar:" + strings.Repeat("pull,", 250)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseScope(tt.in)
			if ok != tt.ok {
				t.Fatalf("ParseScope(%q) ok = %v, want %v (scope %+v)", tt.in, ok, tt.ok, got)
			}
			if !tt.ok {
				if got.Type != "" || got.Name != "" || got.Actions != nil {
					t.Errorf("rejected scope = %+v, want zero", got)
				}
				return
			}
			if !scopeEqual(got, tt.want) {
				t.Errorf("ParseScope(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	many := make([]string, maxScopes+5)
	var wantMany []Scope
	for i := range many {
		name := "p/r" + strings.Repeat("x", i)
		many[i] = "repository:" + name + ":pull"
		if i < maxScopes {
			wantMany = append(wantMany, Scope{Type: "repository", Name: name, Actions: []string{"pull"}})
		}
	}
	tests := []struct {
		name   string
		values []string
		want   []Scope
	}{
		{name: "none", values: nil, want: nil},
		{name: "empty value", values: []string{""}, want: nil},
		{name: "one", values: []string{"repository:foo/bar:pull"}, want: []Scope{{Type: "repository", Name: "foo/bar", Actions: []string{"pull"}}}},
		{
			name:   "several in one value",
			values: []string{"repository:a/b:pull repository:c/d:push  registry:catalog:*"},
			want: []Scope{
				{Type: "repository", Name: "a/b", Actions: []string{"pull"}},
				{Type: "repository", Name: "c/d", Actions: []string{"push"}},
				{Type: "registry", Name: "catalog", Actions: []string{"*"}},
			},
		},
		{
			name:   "several values",
			values: []string{"repository:a/b:pull", "repository:c/d:pull,push"},
			want: []Scope{
				{Type: "repository", Name: "a/b", Actions: []string{"pull"}},
				{Type: "repository", Name: "c/d", Actions: []string{"pull", "push"}},
			},
		},
		{
			name:   "duplicates merged",
			values: []string{"repository:a/b:pull", "repository:a/b:push,pull repository:a/b:delete"},
			want:   []Scope{{Type: "repository", Name: "a/b", Actions: []string{"pull", "push", "delete"}}},
		},
		{
			name:   "same name different type not merged",
			values: []string{"repository:catalog:pull registry:catalog:*"},
			want: []Scope{
				{Type: "repository", Name: "catalog", Actions: []string{"pull"}},
				{Type: "registry", Name: "catalog", Actions: []string{"*"}},
			},
		},
		{
			name:   "malformed dropped, others kept",
			values: []string{"repository:Bad/Name:pull repository:ok/name:pull repository:x/y:admin", "garbage"},
			want:   []Scope{{Type: "repository", Name: "ok/name", Actions: []string{"pull"}}},
		},
		{
			name:   "over-long dropped, others kept",
			values: []string{"repository:foo/bar:" + strings.Repeat("pull,", 250) + " repository:ok/name:pull"},
			want:   []Scope{{Type: "repository", Name: "ok/name", Actions: []string{"pull"}}},
		},
		{name: "at most maxScopes", values: many, want: wantMany},
		{name: "at most maxScopes in one value", values: []string{strings.Join(many, " ")}, want: wantMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseScopes(tt.values)
			if !slices.EqualFunc(got, tt.want, scopeEqual) {
				t.Errorf("ParseScopes(%q) =\n%+v\nwant\n%+v", tt.values, got, tt.want)
			}
		})
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{
		"repository:foo/bar:pull",
		"repository:foo/bar:pull,push,delete,*",
		"repository:localhost:5000/foo/bar:pull",
		"repository:[::1]:5000/foo:push",
		"repository(plugin):foo/bar:pull",
		"repository:ubuntu:pull",
		"registry:catalog:*",
		"repository:foo/bar:pull,pull,admin",
		"repository:foo/../bar:pull",
		"repository:Foo/bar:pull",
		"repository:foo/bar:latest:pull",
		"repository:foo/bar@sha256:" + strings.Repeat("0", 64) + ":pull",
		"repository:foo bar:pull repository:a/b:push",
		"repository:foo/bar/:pull",
		"repository::pull",
		":::",
		"repository(:x:pull",
		"repository:\xff:pull",
		"repository:" + strings.Repeat("a", 300) + ":pull",
	} {
		f.Add(s)
	}
	allowed := []string{ActionPull, ActionPush, ActionDelete, ActionAll}
	f.Fuzz(func(t *testing.T, s string) {
		sc, ok := ParseScope(s)
		if ok {
			checkScope(t, sc, allowed)
			again, ok := ParseScope(sc.Type + ":" + sc.Name + ":" + strings.Join(sc.Actions, ","))
			sc.Class = ""
			if !ok || !scopeEqual(again, sc) {
				t.Fatalf("re-parse of %+v = %+v, %v", sc, again, ok)
			}
		}
		all := ParseScopes([]string{s, s})
		if len(all) > maxScopes {
			t.Fatalf("ParseScopes answered %d scopes, more than %d", len(all), maxScopes)
		}
		for i, a := range all {
			checkScope(t, a, allowed)
			for _, b := range all[:i] {
				if a.Type == b.Type && a.Name == b.Name {
					t.Fatalf("ParseScopes answered %s:%s twice", a.Type, a.Name)
				}
			}
		}
	})
}

// checkScope fails t unless sc holds the invariants of an accepted scope.
func checkScope(t *testing.T, sc Scope, allowed []string) {
	t.Helper()
	if sc.Type != "repository" && sc.Type != "registry" {
		t.Fatalf("accepted type %q", sc.Type)
	}
	if sc.Name == "" || strings.Contains(sc.Name, "..") || strings.IndexFunc(sc.Name, unicode.IsSpace) >= 0 {
		t.Fatalf("accepted name %q", sc.Name)
	}
	if sc.Name != strings.ToLower(sc.Name) || len(sc.Name) > 255 {
		t.Fatalf("accepted name %q", sc.Name)
	}
	if len(sc.Actions) == 0 {
		t.Fatalf("accepted %s:%s with no actions", sc.Type, sc.Name)
	}
	for i, a := range sc.Actions {
		if !slices.Contains(allowed, a) || slices.Contains(sc.Actions[:i], a) {
			t.Fatalf("accepted actions %q", sc.Actions)
		}
	}
}

func scopeEqual(a, b Scope) bool {
	return a.Type == b.Type && a.Class == b.Class && a.Name == b.Name && slices.Equal(a.Actions, b.Actions)
}
