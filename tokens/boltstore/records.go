package boltstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// The record types below are the file format: a record is stored as the
// JSON of its record type, never of the domain type, so the domain can
// rename a JSON tag or give a type a MarshalJSON without changing what a
// data directory holds. Their tags are the names the store wrote when it
// still marshalled the domain types (testdata/boltstore/2026-12-08.db);
// TestFileFormat pins the bytes. A field added to a domain type is stored
// once its record type has it and both conversions copy it.

// stored lists the domain types the store keeps, each as a record type of
// its own (see encode and decode).
type stored interface {
	tokens.User | tokens.PersonalAccessToken | tokens.Project | tokens.Member | tokens.DeployToken |
		tokens.Group | tokens.GroupMember
}

// encode answers the bytes v is stored as.
func encode[D stored](v *D) ([]byte, error) {
	switch v := any(v).(type) {
	case *tokens.User:
		return json.Marshal(newUserRecord(v))
	case *tokens.PersonalAccessToken:
		return json.Marshal(newPATRecord(v))
	case *tokens.Project:
		return json.Marshal(newProjectRecord(v))
	case *tokens.Member:
		return json.Marshal(newMemberRecord(v))
	case *tokens.DeployToken:
		return json.Marshal(newDeployTokenRecord(v))
	case *tokens.Group:
		return json.Marshal(newGroupRecord(v))
	case *tokens.GroupMember:
		return json.Marshal(newGroupMemberRecord(v))
	}
	// stored admits no other type.
	panic(fmt.Sprintf("boltstore: no record type for %T", v))
}

// decode sets *v from bytes that encode answered.
func decode[D stored](data []byte, v *D) error {
	switch v := any(v).(type) {
	case *tokens.User:
		return decodeAs(data, v, (*userRecord).user)
	case *tokens.PersonalAccessToken:
		return decodeAs(data, v, (*patRecord).pat)
	case *tokens.Project:
		return decodeAs(data, v, (*projectRecord).project)
	case *tokens.Member:
		return decodeAs(data, v, (*memberRecord).member)
	case *tokens.DeployToken:
		return decodeAs(data, v, (*deployTokenRecord).deployToken)
	case *tokens.Group:
		return decodeAs(data, v, (*groupRecord).group)
	case *tokens.GroupMember:
		return decodeAs(data, v, (*groupMemberRecord).groupMember)
	}
	panic(fmt.Sprintf("boltstore: no record type for %T", v))
}

// decodeAs decodes data as a record R and sets *v to its domain form.
func decodeAs[R, D any](data []byte, v *D, domain func(*R) D) error {
	var r R
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	*v = domain(&r)
	return nil
}

// userRecord is how a tokens.User is stored in bucket users.
type userRecord struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at"`
	// Blocked is left out when false, so an active user's record is
	// what it was before users could be blocked.
	Blocked bool `json:"blocked,omitempty"`
}

func newUserRecord(u *tokens.User) userRecord {
	return userRecord{ID: u.ID, Username: u.Username, Name: u.Name, Admin: u.Admin, CreatedAt: u.CreatedAt, Blocked: u.Blocked}
}

func (r *userRecord) user() tokens.User {
	return tokens.User{ID: r.ID, Username: r.Username, Name: r.Name, Admin: r.Admin, CreatedAt: r.CreatedAt, Blocked: r.Blocked}
}

// patRecord is how a tokens.PersonalAccessToken is stored in bucket pats.
type patRecord struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Revoked    bool       `json:"revoked"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Digest     []byte     `json:"digest"`
	// Added with rotation and last use: absent (zero) in older files.
	LastUsedIP    string `json:"last_used_ip,omitempty"`
	LastUsedAgent string `json:"last_used_agent,omitempty"`
	PreviousID    int64  `json:"previous_id,omitempty"`
	ReplacedBy    int64  `json:"replaced_by,omitempty"`
}

func newPATRecord(t *tokens.PersonalAccessToken) patRecord {
	return patRecord{ID: t.ID, UserID: t.UserID, Name: t.Name, Scopes: t.Scopes, ExpiresAt: t.ExpiresAt,
		Revoked: t.Revoked, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, Digest: t.Digest,
		LastUsedIP: t.LastUsedIP, LastUsedAgent: t.LastUsedAgent, PreviousID: t.PreviousID, ReplacedBy: t.ReplacedBy}
}

func (r *patRecord) pat() tokens.PersonalAccessToken {
	return tokens.PersonalAccessToken{ID: r.ID, UserID: r.UserID, Name: r.Name, Scopes: r.Scopes, ExpiresAt: r.ExpiresAt,
		Revoked: r.Revoked, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, Digest: r.Digest,
		LastUsedIP: r.LastUsedIP, LastUsedAgent: r.LastUsedAgent, PreviousID: r.PreviousID, ReplacedBy: r.ReplacedBy}
}

// projectRecord is how a tokens.Project is stored in bucket projects.
// Visibility is a plain string so that a method of tokens.Visibility can't
// change how it is written. A project in a personal namespace leaves
// namespace_id out, as every project stored before groups did.
type projectRecord struct {
	ID                int64     `json:"id"`
	Path              string    `json:"path"`
	PathWithNamespace string    `json:"path_with_namespace"`
	Visibility        string    `json:"visibility"`
	CreatorID         int64     `json:"creator_id"`
	CreatedAt         time.Time `json:"created_at"`
	// Name is left out when empty: projects stored before they had one.
	Name        string `json:"name,omitempty"`
	NamespaceID int64  `json:"namespace_id,omitempty"`
}

func newProjectRecord(p *tokens.Project) projectRecord {
	return projectRecord{ID: p.ID, Path: p.Path, PathWithNamespace: p.PathWithNamespace,
		Visibility: string(p.Visibility), CreatorID: p.CreatorID, CreatedAt: p.CreatedAt, Name: p.Name, NamespaceID: p.NamespaceID}
}

func (r *projectRecord) project() tokens.Project {
	return tokens.Project{ID: r.ID, Path: r.Path, PathWithNamespace: r.PathWithNamespace,
		Visibility: tokens.Visibility(r.Visibility), CreatorID: r.CreatorID, CreatedAt: r.CreatedAt, Name: r.Name, NamespaceID: r.NamespaceID}
}

// memberRecord is how a tokens.Member is stored in bucket members; the
// access level is GitLab's number, as a plain int for the reason
// projectRecord's visibility is a plain string.
type memberRecord struct {
	ProjectID   int64     `json:"project_id"`
	UserID      int64     `json:"user_id"`
	AccessLevel int       `json:"access_level"`
	CreatedAt   time.Time `json:"created_at"`
}

func newMemberRecord(m *tokens.Member) memberRecord {
	return memberRecord{ProjectID: m.ProjectID, UserID: m.UserID, AccessLevel: int(m.AccessLevel), CreatedAt: m.CreatedAt}
}

func (r *memberRecord) member() tokens.Member {
	return tokens.Member{ProjectID: r.ProjectID, UserID: r.UserID, AccessLevel: tokens.AccessLevel(r.AccessLevel), CreatedAt: r.CreatedAt}
}

// deployTokenRecord is how a tokens.DeployToken is stored in bucket
// tokens. Only the CI token has a sealed secret; the others leave the
// field out. Only a group deploy token has a group (and project_id 0);
// project tokens leave group_id out, as every token stored before groups
// did.
type deployTokenRecord struct {
	ID         int64      `json:"id"`
	ProjectID  int64      `json:"project_id"`
	Name       string     `json:"name"`
	Username   string     `json:"username"`
	Scopes     []string   `json:"scopes"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Revoked    bool       `json:"revoked"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatorID  int64      `json:"creator_id"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Digest     []byte     `json:"digest"`
	CISecret   []byte     `json:"ci_secret,omitempty"`
	GroupID    int64      `json:"group_id,omitempty"`
	// Added with rotation and last use: absent (zero) in older files.
	LastUsedIP    string `json:"last_used_ip,omitempty"`
	LastUsedAgent string `json:"last_used_agent,omitempty"`
	tokens.Rotation
}

func newDeployTokenRecord(t *tokens.DeployToken) deployTokenRecord {
	return deployTokenRecord{ID: t.ID, ProjectID: t.ProjectID, Name: t.Name, Username: t.Username,
		Scopes: t.Scopes, ExpiresAt: t.ExpiresAt, Revoked: t.Revoked, CreatedAt: t.CreatedAt, CreatorID: t.CreatorID,
		LastUsedAt: t.LastUsedAt, Digest: t.Digest, CISecret: t.CISecret, GroupID: t.GroupID,
		LastUsedIP: t.LastUsedIP, LastUsedAgent: t.LastUsedAgent, Rotation: t.Rotation}
}

func (r *deployTokenRecord) deployToken() tokens.DeployToken {
	return tokens.DeployToken{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Username: r.Username,
		Scopes: r.Scopes, ExpiresAt: r.ExpiresAt, Revoked: r.Revoked, CreatedAt: r.CreatedAt, CreatorID: r.CreatorID,
		LastUsedAt: r.LastUsedAt, Digest: r.Digest, CISecret: r.CISecret, GroupID: r.GroupID,
		LastUsedIP: r.LastUsedIP, LastUsedAgent: r.LastUsedAgent, Rotation: r.Rotation}
}

// groupRecord is how a tokens.Group is stored in bucket groups.
type groupRecord struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Path        string    `json:"path"`
	FullPath    string    `json:"full_path"`
	ParentID    int64     `json:"parent_id"`
	Visibility  string    `json:"visibility"`
	Description string    `json:"description"`
	CreatorID   int64     `json:"creator_id"`
	CreatedAt   time.Time `json:"created_at"`
}

func newGroupRecord(g *tokens.Group) groupRecord {
	return groupRecord{ID: g.ID, Name: g.Name, Path: g.Path, FullPath: g.FullPath, ParentID: g.ParentID,
		Visibility: string(g.Visibility), Description: g.Description, CreatorID: g.CreatorID, CreatedAt: g.CreatedAt}
}

func (r *groupRecord) group() tokens.Group {
	return tokens.Group{ID: r.ID, Name: r.Name, Path: r.Path, FullPath: r.FullPath, ParentID: r.ParentID,
		Visibility: tokens.Visibility(r.Visibility), Description: r.Description, CreatorID: r.CreatorID, CreatedAt: r.CreatedAt}
}

// groupMemberRecord is how a tokens.GroupMember is stored in bucket
// group_members.
type groupMemberRecord struct {
	GroupID     int64     `json:"group_id"`
	UserID      int64     `json:"user_id"`
	AccessLevel int       `json:"access_level"`
	CreatedAt   time.Time `json:"created_at"`
}

func newGroupMemberRecord(m *tokens.GroupMember) groupMemberRecord {
	return groupMemberRecord{GroupID: m.GroupID, UserID: m.UserID, AccessLevel: int(m.AccessLevel), CreatedAt: m.CreatedAt}
}

func (r *groupMemberRecord) groupMember() tokens.GroupMember {
	return tokens.GroupMember{GroupID: r.GroupID, UserID: r.UserID, AccessLevel: tokens.AccessLevel(r.AccessLevel), CreatedAt: r.CreatedAt}
}

// deadPathRecord is how a tokens.DeadPath is stored in bucket dead_paths.
// Its tags are those of the JSON array the KV held before (see
// migrateDeadPaths), so that one decodes as a list of these.
type deadPathRecord struct {
	Path      string    `json:"path"`
	ProjectID int64     `json:"project_id"`
	DeletedAt time.Time `json:"deleted_at"`
	Purge     bool      `json:"purge"`
	PurgedAt  time.Time `json:"purged_at,omitzero"`
}

func newDeadPathRecord(d *tokens.DeadPath) deadPathRecord {
	return deadPathRecord{Path: d.Path, ProjectID: d.ProjectID, DeletedAt: d.DeletedAt, Purge: d.Purge, PurgedAt: d.PurgedAt}
}

func (r *deadPathRecord) deadPath() tokens.DeadPath {
	return tokens.DeadPath{Path: r.Path, ProjectID: r.ProjectID, DeletedAt: r.DeletedAt, Purge: r.Purge, PurgedAt: r.PurgedAt}
}
