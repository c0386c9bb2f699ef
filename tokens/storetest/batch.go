package storetest

import (
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// testProjectsByPaths checks the batched lookup answers what ProjectByPath
// answers path by path: found in any case, keyed as asked, and nothing for
// a path that is no project's (never was, was deleted, or only a prefix
// of one).
func testProjectsByPaths(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	web := mustProject(t, s, "Group/Web-App", owner)
	api := mustProject(t, s, "group/sub/api", owner)
	doomed := mustProject(t, s, "group/doomed", owner)
	if err := s.DeleteProject(ctx, doomed.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		paths []string
		want  map[string]tokens.Project
	}{
		{"none asked", nil, map[string]tokens.Project{}},
		{"one", []string{"Group/Web-App"}, map[string]tokens.Project{"Group/Web-App": web}},
		{"keyed as asked, in any case", []string{"group/web-app", "GROUP/SUB/API"},
			map[string]tokens.Project{"group/web-app": web, "GROUP/SUB/API": api}},
		{"missing ones left out", []string{"group/none", "group/web-app", "group/sub", "group/web-app/x"},
			map[string]tokens.Project{"group/web-app": web}},
		{"deleted project absent", []string{"group/doomed", "group/sub/api"},
			map[string]tokens.Project{"group/sub/api": api}},
		{"nothing found", []string{"a/b", "a/b/c", "a/b/c/d"}, map[string]tokens.Project{}},
		{"repeated path", []string{"group/sub/api", "group/sub/api"},
			map[string]tokens.Project{"group/sub/api": api}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ProjectsByPaths(ctx, tt.paths)
			if err != nil {
				t.Fatalf("ProjectsByPaths: %v", err)
			}
			wantEqual(t, "ProjectsByPaths", got, tt.want)
		})
	}
}
