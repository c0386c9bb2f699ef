package tokens

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen bounds names, usernames and path segments, as GitLab does.
const MaxNameLen = 255

// maxPathDepth bounds project nesting (GitLab allows 20 levels of groups).
const maxPathDepth = 21

var (
	segmentRe       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	tokenUsernameRe = regexp.MustCompile(`^[a-zA-Z0-9.+_-]+$`)
	// rfc3339Re is RFC 3339's date-time, which time.Parse reads loosely
	// (one-digit hours, a comma before the fraction, offsets past :59).
	rfc3339Re = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)
	// defaultUsernameRe matches DefaultDeployTokenUsername's names.
	defaultUsernameRe = regexp.MustCompile(`^gitlab\+deploy-token-[0-9]+$`)
	// reservedTop are first path segments that the server's own routes use
	// (the web's group pages live below /groups/, as GitLab's do).
	reservedTop = []string{"-", "api", "jwt", "v2", "users", "assets", "admin", "help", "dashboard", "explore", "groups"}
	// reservedLast are last path segments git's smart HTTP routes end in:
	// group/git-upload-pack is group's git endpoint, not a project's page
	// (and so is group/sub/info/refs, refused below).
	reservedLast = []string{"git-upload-pack", "git-receive-pack"}
)

// ValidateSegment checks one GitLab path segment (a username, a group or a
// project path): letters, digits, '_', '-' and '.'; not starting with '-' or
// '.', not ending with '.', '.git' or '.atom'.
func ValidateSegment(field, s string) error {
	switch {
	case s == "":
		return Invalid(field, "is missing")
	case len(s) > MaxNameLen:
		return Invalid(field, "is too long (maximum is %d characters)", MaxNameLen)
	case !segmentRe.MatchString(s):
		return Invalid(field, "can contain only letters, digits, '_', '-' and '.', and cannot start with '-' or '.'")
	case strings.HasSuffix(s, "."), strings.HasSuffix(strings.ToLower(s), ".git"), strings.HasSuffix(strings.ToLower(s), ".atom"):
		return Invalid(field, "cannot end in '.', '.git' or '.atom'")
	case strings.Contains(s, ".."):
		// A repository directory is named after the path.
		return Invalid(field, "cannot contain '..'")
	}
	return nil
}

// ValidateUsername checks a user's username.
func ValidateUsername(s string) error {
	if err := ValidateSegment("username", s); err != nil {
		return err
	}
	if slices.Contains(reservedTop, strings.ToLower(s)) {
		return Invalid("username", "%q is reserved", s)
	}
	return nil
}

// maxSegmentLen leaves room for the ".git" of the repository directory
// within the file system's 255-byte names.
const maxSegmentLen = MaxNameLen - len(".git")

// maxPathLen is the registry's limit on a repository name, which a
// project's images start with.
const maxPathLen = 255

// ValidateProjectPath checks a full project path such as group/sub/project.
func ValidateProjectPath(field, full string) error {
	if len(full) > maxPathLen {
		return Invalid(field, "is too long (maximum is %d characters in all)", maxPathLen)
	}
	segs := strings.Split(full, "/")
	if len(segs) > maxPathDepth {
		return Invalid(field, "is nested too deeply (at most %d levels)", maxPathDepth)
	}
	for _, s := range segs {
		if s == "" && full != "" {
			return Invalid(field, "has an empty part (a leading, trailing or doubled '/')")
		}
		if err := ValidateSegment(field, s); err != nil {
			return err
		}
		if len(s) > maxSegmentLen {
			return Invalid(field, "has a part longer than %d characters", maxSegmentLen)
		}
	}
	if slices.Contains(reservedTop, strings.ToLower(segs[0])) {
		return Invalid(field, "cannot start with the reserved name %q", segs[0])
	}
	if last := segs[len(segs)-1]; len(segs) > 1 && slices.Contains(reservedLast, strings.ToLower(last)) {
		return Invalid(field, "cannot end with the reserved name %q", last)
	}
	if n := len(segs); n > 3 && strings.EqualFold(segs[n-2]+"/"+segs[n-1], "info/refs") {
		return Invalid(field, "cannot end with the reserved names \"info/refs\"")
	}
	return nil
}

// ParseID parses a record's id as it appears in a path: a positive decimal
// integer, digits only, no sign and no leading zero, so each record has
// exactly one address.
func ParseID(s string) (int64, bool) {
	if s == "" || len(s) > 19 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}

// ValidateName checks a human-readable name (of a token or a user).
func ValidateName(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return Invalid(field, "is missing")
	case !utf8.ValidString(s):
		return Invalid(field, "is not valid UTF-8")
	case utf8.RuneCountInString(s) > MaxNameLen:
		return Invalid(field, "is too long (maximum is %d characters)", MaxNameLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return Invalid(field, "contains control characters")
	case strings.IndexFunc(s, isBidiControl) >= 0:
		// They reorder what a list shows: "a\u202eb" reads as another name.
		return Invalid(field, "contains bidirectional text controls")
	}
	return nil
}

// isBidiControl reports the explicit bidirectional formatting characters
// (embeddings, overrides, isolates and the marks).
func isBidiControl(r rune) bool {
	return r == '\u200e' || r == '\u200f' || r == '\u061c' || r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}

// ValidateTokenUsername checks a deploy token's custom username.
func ValidateTokenUsername(s string) error {
	switch {
	case len(s) > MaxNameLen:
		return Invalid("username", "is too long (maximum is %d characters)", MaxNameLen)
	case !tokenUsernameRe.MatchString(s):
		return Invalid("username", "can contain only letters, digits, '.', '+', '_' and '-'")
	case defaultUsernameRe.MatchString(strings.ToLower(s)):
		// Another token has, or will have, that name.
		return Invalid("username", "cannot be the form of a default username (gitlab+deploy-token-<id>)")
	}
	return nil
}

// NormalizeScopes validates scopes against allowed, drops duplicates and
// answers them in allowed's order. Each entry may itself be a
// comma-separated list, as GitLab accepts.
func NormalizeScopes(field string, in []string, allowed []string) ([]string, error) {
	seen := map[string]bool{}
	for _, entry := range in {
		for s := range strings.SplitSeq(entry, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if !slices.Contains(allowed, s) {
				return nil, Invalid(field, "does not have a valid value: %q (allowed: %s)", truncate(s, 64), strings.Join(allowed, ", "))
			}
			seen[s] = true
		}
	}
	var out []string
	for _, s := range allowed {
		if seen[s] {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, Invalid(field, "is missing")
	}
	return out, nil
}

// ParseExpiry reads an expires_at value: YYYY-MM-DD (00:00 UTC of that day)
// or RFC 3339. Empty means no expiry. It must lie after now.
func ParseExpiry(field, s string, now time.Time) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil && rfc3339Re.MatchString(s) {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return nil, Invalid(field, "must be a date (YYYY-MM-DD) or an RFC 3339 time, not %q", truncate(s, 64))
	}
	t = t.UTC()
	if !t.After(now) {
		return nil, Invalid(field, "must be in the future")
	}
	if t.Year() > 9999 {
		return nil, Invalid(field, "is too far in the future")
	}
	return &t, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
