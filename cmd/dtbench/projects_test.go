package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// TestLoadProjects: the projects load in ID order, so the GET /projects
// rows know the path each of their pages starts with.
func TestLoadProjects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deploytokens.db")
	if err := loadProjects(t.Context(), "", path, 250); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	scs := projectScenarios("127.0.0.1:1", "admin", 250)
	if len(scs) != 3 || scs[1].name != "GET /projects page 3" {
		t.Fatalf("scenarios: %+v", scs)
	}
	ps, total, err := s.PageProjects(t.Context(), tokens.AllProjects, tokens.Page{Offset: 200, Limit: 1})
	if err != nil || total != 250 || len(ps) != 1 || !bytes.Contains(scs[1].req.want, []byte(ps[0].PathWithNamespace+`"`)) {
		t.Errorf("page 3 starts with %v of %d, %v; the row wants %s", ps, total, err, scs[1].req.want)
	}
}
