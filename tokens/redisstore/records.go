package redisstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// Records are Redis hashes with one-letter field names. Zero values are
// left out, so a typical deploy token stays a small listpack. Times are
// time.MarshalBinary (15 bytes, exact, with the zone offset).
const (
	fProject    = "p" // a deploy token's project ID
	fName       = "n"
	fUsername   = "u"
	fUser       = "o" // owning user ID of a PAT
	fFullName   = "m"
	fAdmin      = "a"
	fScopes     = "s"
	fExpires    = "e"
	fRevoked    = "r"
	fCreated    = "c"
	fCreator    = "k"
	fLastUsed   = "l"
	fDigest     = "h"
	fCISecret   = "x"
	fPath       = "f"
	fPathWithNS = "w"
	fVisibility = "v"
	fBlocked    = "b"
	fGroup      = "g" // a project's namespace group, a group deploy token's group
	// Rotation and last use (rotate.go).
	fPrevDigest    = "H"
	fPrevUntil     = "U"
	fRotated       = "R"
	fLastIP        = "i"
	fLastAgent     = "y"
	fPrevLastUsed  = "L"
	fPrevLastIP    = "I"
	fPrevLastAgent = "Y"
	fPrevious      = "P" // a PAT's predecessor in its grace
	fReplacedBy    = "z" // a PAT's successor while it is in its grace
)

// scopeSep joins scopes; a scope never contains a space (OAuth lists
// scopes separated by spaces).
const scopeSep = " "

// fields collects field/value pairs for HSET.
type fields []any

func (f *fields) str(name, v string) {
	if v != "" {
		*f = append(*f, name, v)
	}
}

func (f *fields) bytes(name string, v []byte) {
	if len(v) > 0 {
		*f = append(*f, name, v)
	}
}

func (f *fields) int(name string, v int64) {
	if v != 0 {
		*f = append(*f, name, v)
	}
}

func (f *fields) bool(name string, v bool) {
	if v {
		*f = append(*f, name, "1")
	}
}

func (f *fields) time(name string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	b, err := t.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	*f = append(*f, name, b)
	return nil
}

func (f *fields) timePtr(name string, t *time.Time) error {
	if t == nil {
		return nil
	}
	return f.time(name, *t)
}

// record reads a hash answered by HGETALL.
type record struct {
	m   map[string]string
	err error
}

func (r *record) str(name string) string { return r.m[name] }

func (r *record) bytes(name string) []byte {
	if v, ok := r.m[name]; ok {
		return []byte(v)
	}
	return nil
}

func (r *record) int(name string) int64 {
	v, ok := r.m[name]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("decode %s: %w", name, err)
	}
	return n
}

func (r *record) bool(name string) bool { return r.m[name] == "1" }

func (r *record) scopes() []string {
	v := r.m[fScopes]
	if v == "" {
		return nil
	}
	return strings.Split(v, scopeSep)
}

func (r *record) timePtr(name string) *time.Time {
	v, ok := r.m[name]
	if !ok {
		return nil
	}
	var t time.Time
	if err := t.UnmarshalBinary([]byte(v)); err != nil && r.err == nil {
		r.err = fmt.Errorf("decode %s: %w", name, err)
	}
	return &t
}

func (r *record) time(name string) time.Time {
	if t := r.timePtr(name); t != nil {
		return *t
	}
	return time.Time{}
}

func joinScopes(scopes []string) (string, error) {
	for _, s := range scopes {
		if s == "" || strings.Contains(s, scopeSep) {
			return "", fmt.Errorf("invalid scope %q", s)
		}
	}
	return strings.Join(scopes, scopeSep), nil
}

func encodeUser(u *tokens.User) (fields, error) {
	// The username is always written: a hash needs a field to exist.
	f := fields{fUsername, u.Username}
	f.str(fFullName, u.Name)
	f.bool(fAdmin, u.Admin)
	f.bool(fBlocked, u.Blocked)
	err := f.time(fCreated, u.CreatedAt)
	return f, err
}

func decodeUser(id int64, m map[string]string) (tokens.User, error) {
	r := record{m: m}
	u := tokens.User{
		ID:        id,
		Username:  r.str(fUsername),
		Name:      r.str(fFullName),
		Admin:     r.bool(fAdmin),
		CreatedAt: r.time(fCreated),
		Blocked:   r.bool(fBlocked),
	}
	return u, r.err
}

func encodePAT(t *tokens.PersonalAccessToken) (fields, error) {
	var f fields
	scopes, err := joinScopes(t.Scopes)
	if err != nil {
		return nil, err
	}
	f.int(fUser, t.UserID)
	f.str(fName, t.Name)
	f.str(fScopes, scopes)
	f.bool(fRevoked, t.Revoked)
	f.bytes(fDigest, t.Digest)
	f.str(fLastIP, t.LastUsedIP)
	f.str(fLastAgent, t.LastUsedAgent)
	f.int(fPrevious, t.PreviousID)
	f.int(fReplacedBy, t.ReplacedBy)
	for _, err := range []error{
		f.timePtr(fExpires, t.ExpiresAt),
		f.time(fCreated, t.CreatedAt),
		f.timePtr(fLastUsed, t.LastUsedAt),
	} {
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

func decodePAT(id int64, m map[string]string) (tokens.PersonalAccessToken, error) {
	r := record{m: m}
	t := tokens.PersonalAccessToken{
		ID:         id,
		UserID:     r.int(fUser),
		Name:       r.str(fName),
		Scopes:     r.scopes(),
		ExpiresAt:  r.timePtr(fExpires),
		Revoked:    r.bool(fRevoked),
		CreatedAt:  r.time(fCreated),
		LastUsedAt: r.timePtr(fLastUsed),
		Digest:     r.bytes(fDigest),

		LastUsedIP:    r.str(fLastIP),
		LastUsedAgent: r.str(fLastAgent),
		PreviousID:    r.int(fPrevious),
		ReplacedBy:    r.int(fReplacedBy),
	}
	return t, r.err
}

func encodeProject(p *tokens.Project) (fields, error) {
	// The path is always written: a hash needs a field to exist, and
	// DeleteProject reads it to free the path index.
	f := fields{fPathWithNS, p.PathWithNamespace}
	f.str(fPath, p.Path)
	f.str(fName, p.Name)
	f.str(fVisibility, string(p.Visibility))
	f.int(fCreator, p.CreatorID)
	f.int(fGroup, p.NamespaceID)
	err := f.time(fCreated, p.CreatedAt)
	return f, err
}

func decodeProject(id int64, m map[string]string) (tokens.Project, error) {
	r := record{m: m}
	p := tokens.Project{
		ID:                id,
		Path:              r.str(fPath),
		Name:              r.str(fName),
		PathWithNamespace: r.str(fPathWithNS),
		Visibility:        tokens.Visibility(r.str(fVisibility)),
		CreatorID:         r.int(fCreator),
		CreatedAt:         r.time(fCreated),
		NamespaceID:       r.int(fGroup),
	}
	return p, r.err
}

func encodeDeployToken(t *tokens.DeployToken) (fields, error) {
	var f fields
	scopes, err := joinScopes(t.Scopes)
	if err != nil {
		return nil, err
	}
	f.int(fProject, t.ProjectID)
	f.int(fGroup, t.GroupID)
	f.str(fName, t.Name)
	if t.Username != tokens.DefaultDeployTokenUsername(t.ID) {
		f.str(fUsername, t.Username)
	}
	f.str(fScopes, scopes)
	f.bool(fRevoked, t.Revoked)
	f.int(fCreator, t.CreatorID)
	f.bytes(fDigest, t.Digest)
	f.bytes(fCISecret, t.CISecret)
	f.str(fLastIP, t.LastUsedIP)
	f.str(fLastAgent, t.LastUsedAgent)
	f.bytes(fPrevDigest, t.PrevDigest)
	f.str(fPrevLastIP, t.PrevLastUsedIP)
	f.str(fPrevLastAgent, t.PrevLastUsedAgent)
	for _, err := range []error{
		f.timePtr(fExpires, t.ExpiresAt),
		f.time(fCreated, t.CreatedAt),
		f.timePtr(fLastUsed, t.LastUsedAt),
		f.timePtr(fPrevUntil, t.PrevUntil),
		f.timePtr(fRotated, t.RotatedAt),
		f.timePtr(fPrevLastUsed, t.PrevLastUsedAt),
	} {
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

func decodeDeployToken(id int64, m map[string]string) (tokens.DeployToken, error) {
	r := record{m: m}
	t := tokens.DeployToken{
		ID:         id,
		ProjectID:  r.int(fProject),
		Name:       r.str(fName),
		Username:   r.str(fUsername),
		Scopes:     r.scopes(),
		ExpiresAt:  r.timePtr(fExpires),
		Revoked:    r.bool(fRevoked),
		CreatedAt:  r.time(fCreated),
		CreatorID:  r.int(fCreator),
		LastUsedAt: r.timePtr(fLastUsed),
		Digest:     r.bytes(fDigest),
		CISecret:   r.bytes(fCISecret),
		GroupID:    r.int(fGroup),

		LastUsedIP:    r.str(fLastIP),
		LastUsedAgent: r.str(fLastAgent),
		Rotation: tokens.Rotation{
			RotatedAt:         r.timePtr(fRotated),
			PrevDigest:        r.bytes(fPrevDigest),
			PrevUntil:         r.timePtr(fPrevUntil),
			PrevLastUsedAt:    r.timePtr(fPrevLastUsed),
			PrevLastUsedIP:    r.str(fPrevLastIP),
			PrevLastUsedAgent: r.str(fPrevLastAgent),
		},
	}
	if t.Username == "" {
		t.Username = tokens.DefaultDeployTokenUsername(id)
	}
	return t, r.err
}

// ownerPrefix starts the encoded value of an owner (encodeMember).
var ownerPrefix = strconv.Itoa(int(tokens.Owner)) + ":"

// A member is one field of its project's members hash: the user ID names the
// field, the value is the access level, ":" and the binary creation time.
func encodeMember(m *tokens.Member) (string, error) {
	v := strconv.Itoa(int(m.AccessLevel)) + ":"
	if m.CreatedAt.IsZero() {
		return v, nil
	}
	b, err := m.CreatedAt.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("encode member: %w", err)
	}
	return v + string(b), nil
}

func decodeMember(projectID, userID int64, v string) (tokens.Member, error) {
	level, created, ok := strings.Cut(v, ":")
	if !ok {
		return tokens.Member{}, fmt.Errorf("decode member %d/%d: malformed", projectID, userID)
	}
	n, err := strconv.Atoi(level)
	if err != nil {
		return tokens.Member{}, fmt.Errorf("decode member %d/%d: %w", projectID, userID, err)
	}
	m := tokens.Member{ProjectID: projectID, UserID: userID, AccessLevel: tokens.AccessLevel(n)}
	if created != "" {
		if err := m.CreatedAt.UnmarshalBinary([]byte(created)); err != nil {
			return tokens.Member{}, fmt.Errorf("decode member %d/%d: %w", projectID, userID, err)
		}
	}
	return m, nil
}

// pairs turns the flat field/value array a script answers into a map.
func pairs(v any) (map[string]string, error) {
	a, ok := v.([]any)
	if !ok || len(a)%2 != 0 {
		return nil, fmt.Errorf("unexpected script reply %T", v)
	}
	m := make(map[string]string, len(a)/2)
	for i := 0; i < len(a); i += 2 {
		k, ok1 := a[i].(string)
		val, ok2 := a[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("unexpected script reply element %T", a[i])
		}
		m[k] = val
	}
	return m, nil
}

// fold is the case-insensitive form of usernames and project paths in
// index keys.
func fold(s string) string { return strings.ToLower(s) }
