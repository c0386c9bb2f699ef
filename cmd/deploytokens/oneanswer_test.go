package main

import "testing"

// TestCreateProjectOneAnswer checks that a caller who may not create in a
// namespace gets one answer whether or not a private project sits at (or
// around) the path, so it can't probe for private paths.
func TestCreateProjectOneAnswer(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "grp/app", "private")
	_, bob := s.user(t, "bob")
	first := s.api(t, "POST", "/projects", bob, map[string]any{"path": "free", "namespace_path": "grp"})
	if first.Status != 403 {
		t.Fatalf("create at a free path in another's namespace: %d %s", first.Status, first.Body)
	}
	for _, tc := range []struct{ name, namespace, path string }{
		{"the private path", "grp", "app"},
		{"inside the private path", "grp/app", "sub"},
		{"inside a free path", "grp/free", "sub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.api(t, "POST", "/projects", bob, map[string]any{"path": tc.path, "namespace_path": tc.namespace})
			if r.Status != first.Status || string(r.Body) != string(first.Body) {
				t.Errorf("got %d %s, want %d %s", r.Status, r.Body, first.Status, first.Body)
			}
		})
	}
}
