package githttp

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidPath is returned for a project path that breaks the path rules.
var ErrInvalidPath = errors.New("invalid project path")

// Limits on project paths, as GitLab sets them: a segment is at most 255
// characters and groups nest at most 20 deep.
const (
	maxSegmentLen = 255
	maxSegments   = 21
	maxPathLen    = 1024
)

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

// ValidProjectPath checks a project path such as "group/sub/project" against
// GitLab's path rules: two to 21 segments separated by single slashes, each
// made of ASCII letters, digits, '_', '-' and '.', not starting with '-' or
// '.', without "..", and not ending in ".git" or ".atom". The errors wrap
// ErrInvalidPath.
func ValidProjectPath(p string) error {
	if len(p) > maxPathLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidPath, maxPathLen)
	}
	segs := strings.Split(p, "/")
	if len(segs) < 2 {
		return fmt.Errorf("%w: %q has no namespace", ErrInvalidPath, p)
	}
	if len(segs) > maxSegments {
		return fmt.Errorf("%w: more than %d segments", ErrInvalidPath, maxSegments)
	}
	for _, s := range segs {
		if err := validSegment(s); err != nil {
			return fmt.Errorf("%w: %q: %s", ErrInvalidPath, p, err)
		}
	}
	return nil
}

// validSegment answers why s is not a valid path segment, or nil. It returns
// a plain string error because the caller wraps it with context.
func validSegment(s string) error {
	switch {
	case s == "":
		return errors.New("empty segment")
	case len(s) > maxSegmentLen:
		return errors.New("segment too long")
	case s[0] == '-' || s[0] == '.':
		return errors.New("segment starts with '-' or '.'")
	case strings.Contains(s, ".."):
		return errors.New("segment contains \"..\"")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return errors.New("segment contains a character other than letters, digits, '_', '-' and '.'")
		}
	}
	// Case-insensitive, because a case-insensitive filesystem would
	// otherwise let "p.GIT" alias the repository directory "p.git".
	if l := strings.ToLower(s); strings.HasSuffix(l, ".git") || strings.HasSuffix(l, ".atom") {
		return errors.New("segment ends in .git or .atom")
	}
	return nil
}
