package githttp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/deploytokens/deploytokens/tokens"
)

// ErrInvalidPath is returned for a project path that breaks the path rules.
var ErrInvalidPath = errors.New("invalid project path")

// Git routes served; everything else, dumb HTTP included, is not found.
const (
	routeInfoRefs    = "info/refs"
	routeUploadPack  = "git-upload-pack"
	routeReceivePack = "git-receive-pack"
)

// ParsePath splits a request path like /group/sub/project.git/info/refs into
// the project path (group/sub/project) and the git route (info/refs,
// git-upload-pack or git-receive-pack). The .git suffix is optional. ok is
// false for any other route and for any project path that ValidProjectPath
// rejects, so an accepted path never holds "..", a backslash, a control
// character or an empty segment.
func ParsePath(urlPath string) (projectPath string, route string, ok bool) {
	for _, rt := range []string{routeInfoRefs, routeUploadPack, routeReceivePack} {
		rest, found := strings.CutSuffix(urlPath, "/"+rt)
		if !found {
			continue
		}
		rest, found = strings.CutPrefix(rest, "/")
		if !found {
			return "", "", false
		}
		rest = strings.TrimSuffix(rest, ".git")
		if ValidProjectPath(rest) != nil {
			return "", "", false
		}
		return rest, rt, true
	}
	return "", "", false
}

// ValidProjectPath checks a project path such as "group/sub/project" by
// the domain's one rule set (tokens.ValidateProjectPath: letters, digits,
// '_', '-' and '.', no "..", no reserved names, at most 21 segments and 255
// bytes), and that it has a namespace. The errors wrap ErrInvalidPath.
func ValidProjectPath(p string) error {
	if err := tokens.ValidateProjectPath("path", p); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPath, err) // the cause as text: a bad path here is the server's own mistake, not the client's
	}
	if !strings.Contains(p, "/") {
		return fmt.Errorf("%w: %q has no namespace", ErrInvalidPath, p)
	}
	return nil
}
