package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/deploytokens/deploytokens/tokens"
)

// openTimeout bounds the wait for the file lock, so a second process gets
// an error instead of hanging.
const openTimeout = time.Second

// sweepInterval is how often expired KV values are deleted.
const sweepInterval = 5 * time.Minute

// Bucket names.
var (
	bUsers          = []byte("users")            // id -> User
	bUsersByName    = []byte("users_by_name")    // lower(username) -> id
	bPATs           = []byte("pats")             // id -> PersonalAccessToken
	bPATsByDigest   = []byte("pats_by_digest")   // digest -> id
	bProjects       = []byte("projects")         // id -> Project
	bProjectsByPath = []byte("projects_by_path") // lower(path with namespace) -> id
	bMembers        = []byte("members")          // project id, user id -> Member
	bMemberships    = []byte("memberships")      // user id, project id -> nothing
	bTokens         = []byte("tokens")           // id -> DeployToken
	bTokensByDigest = []byte("tokens_by_digest") // digest -> id
	bProjectTokens  = []byte("project_tokens")   // project id, token id -> nothing
	bKV             = []byte("kv")               // key -> expiry (unix ns, 0 never), value

	buckets = [][]byte{bUsers, bUsersByName, bPATs, bPATsByDigest, bProjects, bProjectsByPath,
		bMembers, bMemberships, bTokens, bTokensByDigest, bProjectTokens, bKV,
		bGroups, bGroupsByPath, bSubgroups, bGroupProjects, bGroupMembers, bGroupMemberships, bGroupTokens}

	// appended are the buckets keyed by NextSequence IDs, where a new key
	// always goes after the last one.
	appended = [][]byte{bUsers, bPATs, bProjects, bTokens, bGroups}
)

// appendFill is how full bolt fills the pages it splits off the end of an
// appended bucket. Its default, half, suits keys that land anywhere, but a
// page split off the end of an ID-keyed bucket never receives another key,
// so at the default every page of records stays half empty for good: half
// the file, and twice the pages a lookup of a given set of records touches.
// The tenth left free is room for a record to grow where it is (a deploy
// token's first last-use time adds about 30 bytes) without splitting its
// page.
const appendFill = 0.9

// Store is the bbolt tokens.Store. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	ops  opCounts
}

var _ tokens.Store = (*Store)(nil)

// ErrLocked is returned (wrapped) by Open when another process, a running
// server most likely, holds the file.
var ErrLocked = errors.New("another process has it open")

// Open opens (creating when missing) the store at path. It fails after a
// second with ErrLocked when another process holds the file.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: %w: %w", path, ErrLocked, err)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := createAdminIndexes(tx); err != nil {
			return err
		}
		if err := migrateDeadPaths(tx); err != nil {
			return err
		}
		if err := createCounts(tx); err != nil {
			return err
		}
		if err := createProjectIndex(tx); err != nil {
			return err
		}
		if err := createEventCounts(tx); err != nil {
			return err
		}
		if err := createExpiryIndex(tx); err != nil {
			return err
		}
		if err := createTokenUsernames(tx); err != nil {
			return err
		}
		if err := createActiveTokens(tx); err != nil {
			return err
		}
		if err := createDecoy(tx); err != nil {
			return err
		}
		return createBlocks(tx)
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: create buckets in %s: %w", path, err)
	}
	s := &Store{db: db, stop: make(chan struct{})}
	s.wg.Go(s.sweepLoop)
	return s, nil
}

// Ping reports whether the store is open.
func (s *Store) Ping(ctx context.Context) error {
	return s.view("ping", func(*bolt.Tx) error { return nil })
}

// Close stops the sweep and closes the file.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	return s.db.Close()
}

func (s *Store) view(op string, fn func(*bolt.Tx) error) error {
	s.ops.txs.Add(1)
	return wrap(op, s.db.View(fn))
}

func (s *Store) update(op string, fn func(*bolt.Tx) error) error {
	return wrap(op, s.db.Update(func(tx *bolt.Tx) error {
		// FillPercent lasts for the transaction: bolt keeps one Bucket
		// per name in a writable one.
		for _, b := range appended {
			tx.Bucket(b).FillPercent = appendFill
		}
		return fn(tx)
	}))
}

func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("%s: %w: %w", op, tokens.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func notFound(what string, id ...int64) error {
	return fmt.Errorf("%s %v: %w", what, id, tokens.ErrNotFound)
}

// itob encodes an ID so that byte order is numeric order.
func itob(id int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(id))
}

func btoi(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }

// pair is the key of a two-ID index: scanning the prefix itob(a) lists b in
// order.
func pair(a, b int64) []byte { return append(itob(a), itob(b)...) }

func fold(s string) []byte { return []byte(strings.ToLower(s)) }

// get decodes the record at key of bucket b into v; false when absent.
func get[D stored](tx *bolt.Tx, b, key []byte, v *D) (bool, error) {
	data := tx.Bucket(b).Get(key)
	if data == nil {
		return false, nil
	}
	if err := decode(data, v); err != nil {
		return true, fmt.Errorf("decode %s record: %w", b, err)
	}
	return true, nil
}

func put[D stored](tx *bolt.Tx, b, key []byte, v *D) error {
	data, err := encode(v)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", b, err)
	}
	if err := recount(tx, b, key, 1); err != nil {
		return err
	}
	return tx.Bucket(b).Put(key, data)
}

func exists(tx *bolt.Tx, b []byte, id int64) bool { return tx.Bucket(b).Get(itob(id)) != nil }

// nextID answers the next ID of the records in bucket b.
func nextID(tx *bolt.Tx, b []byte) (int64, error) {
	n, err := tx.Bucket(b).NextSequence()
	return int64(n), err
}

// claim sets index key to id unless it is taken.
func claim(tx *bolt.Tx, b, key []byte, id int64) error {
	bk := tx.Bucket(b)
	if bk.Get(key) != nil {
		return tokens.ErrConflict
	}
	return bk.Put(key, itob(id))
}

// CreateUser assigns u.ID and stores u; ErrConflict when the username is
// taken in any case.
func (s *Store) CreateUser(ctx context.Context, u *tokens.User) error {
	rec := *u
	err := s.update("create user", func(tx *bolt.Tx) error {
		id, err := nextID(tx, bUsers)
		if err != nil {
			return err
		}
		rec.ID = id
		if tx.Bucket(bGroupsByPath).Get(fold(u.Username)) != nil {
			return fmt.Errorf("username %q is a group's path: %w", u.Username, tokens.ErrConflict)
		}
		if err := claim(tx, bUsersByName, fold(u.Username), id); err != nil {
			return err
		}
		return put(tx, bUsers, itob(id), &rec)
	})
	if err == nil {
		*u = rec
	}
	return err
}

// User answers the user with id.
func (s *Store) User(ctx context.Context, id int64) (tokens.User, error) {
	var u tokens.User
	err := s.view("user", func(tx *bolt.Tx) error {
		return mustGet(tx, bUsers, id, &u, "user")
	})
	return u, err
}

func mustGet[D stored](tx *bolt.Tx, b []byte, id int64, v *D, what string) error {
	ok, err := get(tx, b, itob(id), v)
	if err == nil && !ok {
		err = notFound(what, id)
	}
	return err
}

// byIndex resolves index key to an ID and decodes that record of b into v.
func byIndex[D stored](tx *bolt.Tx, index, key, b []byte, v *D, what string) error {
	id := tx.Bucket(index).Get(key)
	if id == nil {
		return fmt.Errorf("%s: %w", what, tokens.ErrNotFound)
	}
	return mustGet(tx, b, btoi(id), v, what)
}

// UserByUsername answers the user whose username equals username in any
// case.
func (s *Store) UserByUsername(ctx context.Context, username string) (tokens.User, error) {
	var u tokens.User
	err := s.view("user by username", func(tx *bolt.Tx) error {
		return byIndex(tx, bUsersByName, fold(username), bUsers, &u, "user")
	})
	return u, err
}

// CreatePAT assigns t.ID and stores t with its digest index; ErrNotFound
// when the user does not exist.
func (s *Store) CreatePAT(ctx context.Context, t *tokens.PersonalAccessToken) error {
	if len(t.Digest) == 0 {
		return errors.New("create personal access token: empty digest")
	}
	rec := *t
	err := s.update("create personal access token", func(tx *bolt.Tx) error {
		if !exists(tx, bUsers, t.UserID) {
			return notFound("user", t.UserID)
		}
		return insertPAT(tx, &rec)
	})
	if err == nil {
		*t = rec
	}
	return err
}

// PATByDigest finds a token and its user in one transaction.
func (s *Store) PATByDigest(ctx context.Context, digest []byte) (tokens.PersonalAccessToken, tokens.User, error) {
	var (
		t tokens.PersonalAccessToken
		u tokens.User
	)
	err := s.view("personal access token by digest", func(tx *bolt.Tx) error {
		if err := byIndex(tx, bPATsByDigest, digest, bPATs, &t, "personal access token"); err != nil {
			return err
		}
		return mustGet(tx, bUsers, t.UserID, &u, "user")
	})
	return t, u, err
}

// TouchPAT sets LastUsedAt.
func (s *Store) TouchPAT(ctx context.Context, id int64, at time.Time) error {
	return edit(s, "touch personal access token", bPATs, id, "personal access token",
		func(t *tokens.PersonalAccessToken) { t.LastUsedAt = &at })
}

// edit changes the record id of bucket b in one transaction: it reads it,
// lets change alter it and writes it back; ErrNotFound, naming what, when
// there is none.
func edit[T stored](s *Store, op string, b []byte, id int64, what string, change func(*T)) error {
	return s.update(op, func(tx *bolt.Tx) error {
		var rec T
		if err := mustGet(tx, b, id, &rec, what); err != nil {
			return err
		}
		change(&rec)
		return put(tx, b, itob(id), &rec)
	})
}

// PAT answers a token by id.
func (s *Store) PAT(ctx context.Context, id int64) (tokens.PersonalAccessToken, error) {
	var t tokens.PersonalAccessToken
	err := s.view("personal access token", func(tx *bolt.Tx) error {
		return mustGet(tx, bPATs, id, &t, "personal access token")
	})
	return t, err
}

// RevokePAT marks a token revoked.
func (s *Store) RevokePAT(ctx context.Context, id int64) error {
	return edit(s, "revoke personal access token", bPATs, id, "personal access token",
		func(t *tokens.PersonalAccessToken) { t.Revoked = true })
}

// CreateProject assigns p.ID and stores p with its owner member in one
// transaction; ErrConflict when the path is taken in any case, ErrNested
// when it sits inside another project's path or holds one, ErrNotFound when
// the owner does not exist.
func (s *Store) CreateProject(ctx context.Context, p *tokens.Project, owner tokens.Member) error {
	rec := *p
	err := s.update("create project", func(tx *bolt.Tx) error {
		if !exists(tx, bUsers, owner.UserID) {
			return notFound("user", owner.UserID)
		}
		return insertProject(tx, &rec, owner)
	})
	if err == nil {
		*p = rec
	}
	return err
}

// nested answers whether a project's lowercase path holds the lowercase path
// lower or sits inside it: a namespace above lower is a project, or a key
// starting with lower and "/" is.
func nested(tx *bolt.Tx, lower []byte) bool {
	b := tx.Bucket(bProjectsByPath)
	for i, c := range lower {
		if c == '/' && b.Get(lower[:i]) != nil {
			return true
		}
	}
	under := append(slices.Clip(lower), '/')
	k, _ := b.Cursor().Seek(under)
	return k != nil && bytes.HasPrefix(k, under)
}

// insertProject assigns rec.ID and writes rec with its path index and owner
// as its member, the owner user known to exist; ErrNested when its path
// sits inside another project's or holds one.
func insertProject(tx *bolt.Tx, rec *tokens.Project, owner tokens.Member) error {
	id, err := nextID(tx, bProjects)
	if err != nil {
		return err
	}
	rec.ID = id
	lower := fold(rec.PathWithNamespace)
	if err := checkNotReserved(tx, lower); err != nil {
		return err
	}
	if err := checkProjectAmongGroups(tx, rec, lower); err != nil {
		return err
	}
	if nested(tx, lower) {
		return fmt.Errorf("project %q: %w", rec.PathWithNamespace, tokens.ErrNested)
	}
	if err := claim(tx, bProjectsByPath, lower, id); err != nil {
		return err
	}
	if err := put(tx, bProjects, itob(id), rec); err != nil {
		return err
	}
	if err := indexProject(tx, rec); err != nil {
		return err
	}
	if rec.NamespaceID != 0 {
		if err := putKey(tx, bGroupProjects, pair(rec.NamespaceID, id)); err != nil {
			return err
		}
	}
	owner.ProjectID = id
	return putMember(tx, owner)
}

// Project answers the project with id.
func (s *Store) Project(ctx context.Context, id int64) (tokens.Project, error) {
	var p tokens.Project
	err := s.view("project", func(tx *bolt.Tx) error {
		return mustGet(tx, bProjects, id, &p, "project")
	})
	return p, err
}

// ProjectByPath answers the project whose path with namespace equals
// pathWithNamespace in any case.
func (s *Store) ProjectByPath(ctx context.Context, pathWithNamespace string) (tokens.Project, error) {
	var p tokens.Project
	err := s.view("project by path", func(tx *bolt.Tx) error {
		return byIndex(tx, bProjectsByPath, fold(pathWithNamespace), bProjects, &p, "project")
	})
	return p, err
}

// ListProjects answers every project ordered by ID.
func (s *Store) ListProjects(ctx context.Context) ([]tokens.Project, error) {
	var out []tokens.Project
	err := s.view("list projects", func(tx *bolt.Tx) error {
		return tx.Bucket(bProjects).ForEach(func(_, v []byte) error {
			var p tokens.Project
			if err := decode(v, &p); err != nil {
				return fmt.Errorf("decode project: %w", err)
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// DeleteProject removes a project with its members and deploy tokens in
// one transaction.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	return s.update("delete project", func(tx *bolt.Tx) error {
		_, err := deleteProject(tx, id)
		return err
	})
}

// deleteProject removes project id with its members and deploy tokens, and
// answers it.
func deleteProject(tx *bolt.Tx, id int64) (tokens.Project, error) {
	var p tokens.Project
	err := func() error {
		if err := mustGet(tx, bProjects, id, &p, "project"); err != nil {
			return err
		}
		tokenIDs := idsWithPrefix(tx, bProjectTokens, id)
		for _, tid := range tokenIDs {
			var t tokens.DeployToken
			if ok, err := get(tx, bTokens, itob(tid), &t); err != nil {
				return err
			} else if ok {
				if err := tx.Bucket(bTokensByDigest).Delete(t.Digest); err != nil {
					return err
				}
				if err := dropTokenDigest(tx, t.PrevDigest); err != nil {
					return err
				}
				if err := unindexExpiry(tx, &t); err != nil {
					return err
				}
				if err := unindexTokenUsername(tx, &t); err != nil {
					return err
				}
				if err := leaveActive(tx, &t); err != nil {
					return err
				}
			}
			if err := deleteAll(tx, bTokens, itob(tid)); err != nil {
				return err
			}
			if err := deleteAll(tx, bProjectTokens, pair(id, tid)); err != nil {
				return err
			}
		}
		for _, uid := range idsWithPrefix(tx, bMembers, id) {
			if err := deleteMember(tx, id, uid); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bProjectsByPath).Delete(fold(p.PathWithNamespace)); err != nil {
			return err
		}
		if err := dropActiveList(tx, tokens.DeployTokenList{ProjectID: id}); err != nil {
			return err
		}
		if err := deleteAll(tx, bGroupProjects, pair(p.NamespaceID, id)); err != nil {
			return err
		}
		if err := unindexProject(tx, id); err != nil {
			return err
		}
		return tx.Bucket(bProjects).Delete(itob(id))
	}()
	return p, err
}

func deleteAll(tx *bolt.Tx, b []byte, keys ...[]byte) error {
	for _, k := range keys {
		if err := recount(tx, b, k, -1); err != nil {
			return err
		}
		if err := tx.Bucket(b).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// idsWithPrefix answers, in order, the second IDs of the pair keys in b that
// start with first.
func idsWithPrefix(tx *bolt.Tx, b []byte, first int64) []int64 {
	var ids []int64
	prefix := itob(first)
	c := tx.Bucket(b).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, btoi(k[8:]))
	}
	return ids
}

func putMember(tx *bolt.Tx, m tokens.Member) error {
	if err := put(tx, bMembers, pair(m.ProjectID, m.UserID), &m); err != nil {
		return err
	}
	return tx.Bucket(bMemberships).Put(pair(m.UserID, m.ProjectID), nil)
}

func deleteMember(tx *bolt.Tx, projectID, userID int64) error {
	if err := deleteAll(tx, bMembers, pair(projectID, userID)); err != nil {
		return err
	}
	return deleteAll(tx, bMemberships, pair(userID, projectID))
}

// PutMember creates or updates m; ErrNotFound when the project or the user
// does not exist.
func (s *Store) PutMember(ctx context.Context, m tokens.Member) error {
	return s.update("put member", func(tx *bolt.Tx) error {
		if !exists(tx, bProjects, m.ProjectID) {
			return notFound("project", m.ProjectID)
		}
		if !exists(tx, bUsers, m.UserID) {
			return notFound("user", m.UserID)
		}
		if m.AccessLevel != tokens.Owner {
			if err := keepAnOwner(tx, m.ProjectID, m.UserID); err != nil {
				return err
			}
		}
		return putMember(tx, m)
	})
}

// keepAnOwner refuses, with ErrLastOwner, to demote or remove userID when it
// is projectID's only owner.
func keepAnOwner(tx *bolt.Tx, projectID, userID int64) error {
	var cur tokens.Member
	if ok, err := get(tx, bMembers, pair(projectID, userID), &cur); err != nil || !ok || cur.AccessLevel != tokens.Owner {
		return err
	}
	for _, uid := range idsWithPrefix(tx, bMembers, projectID) {
		var m tokens.Member
		if _, err := get(tx, bMembers, pair(projectID, uid), &m); err != nil {
			return err
		}
		if m.AccessLevel == tokens.Owner && uid != userID {
			return nil
		}
	}
	return fmt.Errorf("member %d/%d: %w", projectID, userID, tokens.ErrLastOwner)
}

// Member answers the membership of userID in projectID.
func (s *Store) Member(ctx context.Context, projectID, userID int64) (tokens.Member, error) {
	var m tokens.Member
	err := s.view("member", func(tx *bolt.Tx) error {
		ok, err := get(tx, bMembers, pair(projectID, userID), &m)
		if err == nil && !ok {
			err = notFound("member", projectID, userID)
		}
		return err
	})
	return m, err
}

// ListMembers answers a project's members ordered by user ID.
func (s *Store) ListMembers(ctx context.Context, projectID int64) ([]tokens.Member, error) {
	var out []tokens.Member
	err := s.view("list members", func(tx *bolt.Tx) error {
		for _, uid := range idsWithPrefix(tx, bMembers, projectID) {
			var m tokens.Member
			if _, err := get(tx, bMembers, pair(projectID, uid), &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// MembershipsOf answers a user's memberships ordered by project ID.
func (s *Store) MembershipsOf(ctx context.Context, userID int64) ([]tokens.Member, error) {
	var out []tokens.Member
	err := s.view("memberships", func(tx *bolt.Tx) error {
		for _, pid := range idsWithPrefix(tx, bMemberships, userID) {
			var m tokens.Member
			if ok, err := get(tx, bMembers, pair(pid, userID), &m); err != nil {
				return err
			} else if ok {
				out = append(out, m)
			}
		}
		return nil
	})
	return out, err
}

// DeleteMember removes userID from projectID; ErrNotFound when it is not a
// member.
func (s *Store) DeleteMember(ctx context.Context, projectID, userID int64) error {
	return s.update("delete member", func(tx *bolt.Tx) error {
		if tx.Bucket(bMembers).Get(pair(projectID, userID)) == nil {
			return notFound("member", projectID, userID)
		}
		if err := keepAnOwner(tx, projectID, userID); err != nil {
			return err
		}
		return deleteMember(tx, projectID, userID)
	})
}

// CreateDeployToken assigns t.ID, defaults t.Username, and stores t with
// its digest index; ErrNotFound when the project does not exist.
func (s *Store) CreateDeployToken(ctx context.Context, t *tokens.DeployToken) error {
	if len(t.Digest) == 0 {
		return errors.New("create deploy token: empty digest")
	}
	rec := *t
	err := s.update("create deploy token", func(tx *bolt.Tx) error { return insertDeployToken(tx, &rec) })
	if err == nil {
		*t = rec
	}
	return err
}

// insertDeployToken assigns rec.ID, defaults rec.Username, and writes rec
// with its digest index and its place in its project's (or group's) list;
// ErrNotFound when the project (or group) does not exist.
func insertDeployToken(tx *bolt.Tx, rec *tokens.DeployToken) error {
	list, owner, err := tokenOwner(tx, rec)
	if err != nil {
		return err
	}
	id, err := nextID(tx, bTokens)
	if err != nil {
		return err
	}
	rec.ID = id
	if rec.Username == "" {
		rec.Username = tokens.DefaultDeployTokenUsername(id)
	}
	if err := claim(tx, bTokensByDigest, rec.Digest, id); err != nil {
		return err
	}
	if err := putKey(tx, list, pair(owner, id)); err != nil {
		return err
	}
	if err := indexExpiry(tx, rec); err != nil {
		return err
	}
	if err := indexTokenUsername(tx, rec); err != nil {
		return err
	}
	if err := enterActive(tx, rec); err != nil {
		return err
	}
	return put(tx, bTokens, itob(id), rec)
}

func deployToken(tx *bolt.Tx, projectID, id int64, t *tokens.DeployToken) error {
	ok, err := get(tx, bTokens, itob(id), t)
	// A group's token has project 0, which no project has.
	if err == nil && (!ok || t.ProjectID != projectID || projectID == 0) {
		err = notFound("deploy token", projectID, id)
	}
	return err
}

// DeployToken answers the token id of projectID.
func (s *Store) DeployToken(ctx context.Context, projectID, id int64) (tokens.DeployToken, error) {
	var t tokens.DeployToken
	err := s.view("deploy token", func(tx *bolt.Tx) error { return deployToken(tx, projectID, id, &t) })
	return t, err
}

// ListDeployTokens answers a project's tokens ordered by ID.
func (s *Store) ListDeployTokens(ctx context.Context, projectID int64) ([]tokens.DeployToken, error) {
	var out []tokens.DeployToken
	err := s.view("list deploy tokens", func(tx *bolt.Tx) error {
		for _, id := range idsWithPrefix(tx, bProjectTokens, projectID) {
			var t tokens.DeployToken
			if err := deployToken(tx, projectID, id, &t); err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// ListAllDeployTokens answers every project's tokens ordered by ID.
func (s *Store) ListAllDeployTokens(ctx context.Context) ([]tokens.DeployToken, error) {
	var out []tokens.DeployToken
	err := s.view("list all deploy tokens", func(tx *bolt.Tx) error {
		return tx.Bucket(bTokens).ForEach(func(_, v []byte) error {
			var t tokens.DeployToken
			if err := decode(v, &t); err != nil {
				return fmt.Errorf("decode deploy token: %w", err)
			}
			s.ops.records.Add(1) // a read of every token, counted as pages are
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// RevokeDeployToken marks the token revoked; the record stays.
func (s *Store) RevokeDeployToken(ctx context.Context, projectID, id int64) error {
	return s.update("revoke deploy token", func(tx *bolt.Tx) error {
		var t tokens.DeployToken
		if err := deployToken(tx, projectID, id, &t); err != nil {
			return err
		}
		if err := leaveActive(tx, &t); err != nil {
			return err
		}
		t.Revoked = true
		if err := indexExpiry(tx, &t); err != nil {
			return err
		}
		return put(tx, bTokens, itob(id), &t)
	})
}

// DeployTokenByDigest finds a token and its project in one transaction;
// ErrNotFound when either is gone.
func (s *Store) DeployTokenByDigest(ctx context.Context, digest []byte) (tokens.DeployToken, tokens.Project, error) {
	var (
		t tokens.DeployToken
		p tokens.Project
	)
	err := s.view("deploy token by digest", func(tx *bolt.Tx) error {
		if err := byIndex(tx, bTokensByDigest, digest, bTokens, &t, "deploy token"); err != nil {
			return err
		}
		if t.GroupID != 0 {
			var g tokens.Group
			return mustGet(tx, bGroups, t.GroupID, &g, "group")
		}
		return mustGet(tx, bProjects, t.ProjectID, &p, "project")
	})
	return t, p, err
}

// TouchDeployToken sets LastUsedAt.
func (s *Store) TouchDeployToken(ctx context.Context, id int64, at time.Time) error {
	return edit(s, "touch deploy token", bTokens, id, "deploy token",
		func(t *tokens.DeployToken) { t.LastUsedAt = &at })
}

// A KV value is stored after its expiry: 8 bytes of Unix nanoseconds, 0
// when it never expires.

func kvValue(v []byte, now time.Time) ([]byte, bool) {
	if len(v) < 8 {
		return nil, false
	}
	exp := int64(binary.BigEndian.Uint64(v))
	if exp != 0 && now.UnixNano() >= exp {
		return nil, false
	}
	return v[8:], true
}

func kvEncode(value []byte, ttl time.Duration, now time.Time) []byte {
	var exp int64
	if ttl > 0 {
		exp = now.Add(ttl).UnixNano()
	}
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(value)), uint64(exp)), value...)
}

// liveValue answers key's stored form and a copy of its value (bolt's
// memory is only valid inside the transaction), or ErrNotFound when it is
// absent or expired at now.
func liveValue(b *bolt.Bucket, key string, now time.Time) (raw, value []byte, err error) {
	raw = b.Get([]byte(key))
	v, ok := kvValue(raw, now)
	if !ok {
		return nil, nil, fmt.Errorf("key: %w", tokens.ErrNotFound)
	}
	return raw, append([]byte{}, v...), nil
}

// Get answers the value at key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.view("kv get", func(tx *bolt.Tx) (err error) {
		_, out, err = liveValue(tx.Bucket(bKV), key, time.Now())
		return err
	})
	return out, err
}

// Create stores value only when key is absent; ErrConflict otherwise.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return s.update("kv create", func(tx *bolt.Tx) error {
		now := time.Now()
		b := tx.Bucket(bKV)
		if _, ok := kvValue(b.Get([]byte(key)), now); ok {
			return tokens.ErrConflict
		}
		return b.Put([]byte(key), kvEncode(value, ttl, now))
	})
}

// CompareAndSwap replaces old with value, without expiry; old == nil means
// key must be absent. ErrConflict when the current value differs.
func (s *Store) CompareAndSwap(ctx context.Context, key string, old, value []byte) error {
	return s.update("kv compare and swap", func(tx *bolt.Tx) error {
		now := time.Now()
		b := tx.Bucket(bKV)
		cur, ok := kvValue(b.Get([]byte(key)), now)
		if ok != (old != nil) || !bytes.Equal(cur, old) {
			return tokens.ErrConflict
		}
		return b.Put([]byte(key), kvEncode(value, 0, now))
	})
}

// Delete removes key; an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.update("kv delete", func(tx *bolt.Tx) error {
		return tx.Bucket(bKV).Delete([]byte(key))
	})
}

// Take answers the value and removes key in one transaction; ErrNotFound
// when absent.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.update("kv take", func(tx *bolt.Tx) error {
		b := tx.Bucket(bKV)
		var err error
		if _, out, err = liveValue(b, key, time.Now()); err != nil {
			return err
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Incr adds one to the counter at key and answers the new count; a counter
// created by this call expires after ttl (never when ttl is 0).
func (s *Store) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	var n int64
	err := s.update("kv incr", func(tx *bolt.Tx) error {
		var err error
		n, err = incrIn(tx.Bucket(bKV), key, ttl, time.Now())
		return err
	})
	return n, err
}

// incrIn is Incr within a transaction, on the KV bucket b at now.
func incrIn(b *bolt.Bucket, key string, ttl time.Duration, now time.Time) (int64, error) {
	raw := b.Get([]byte(key))
	cur, ok := kvValue(raw, now)
	if !ok {
		return 1, b.Put([]byte(key), kvEncode([]byte("1"), ttl, now))
	}
	c, err := strconv.ParseInt(string(cur), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("value is not a counter: %w", err)
	}
	n := c + 1
	// Keep the expiry the counter was created with.
	v := append(bytes.Clone(raw[:8]), strconv.FormatInt(n, 10)...)
	return n, b.Put([]byte(key), v)
}

// Strike counts a failure and may ban, in one transaction.
func (s *Store) Strike(ctx context.Context, q tokens.Strike) (tokens.Struck, error) {
	var out tokens.Struck
	err := s.update("kv strike", func(tx *bolt.Tx) error {
		now := time.Now()
		b := tx.Bucket(bKV)
		out = tokens.Struck{}
		n, err := incrIn(b, q.Counter, q.Window, now)
		if err != nil {
			return err
		}
		out.Count = n
		if v, ok := kvValue(b.Get([]byte(q.Ban)), now); ok {
			out.Banned, out.Ban = true, bytes.Clone(v)
			return nil
		}
		if n < q.Limit {
			return nil
		}
		out.Created = true
		return b.Put([]byte(q.Ban), kvEncode(q.Value, q.BanTTL, now))
	})
	if err != nil {
		return tokens.Struck{}, err
	}
	return out, nil
}

// Renew answers the value and, when it has less than ttl - ttl/30 left,
// lets key live ttl from now; ErrNotFound when absent. A key with time
// enough left costs a read transaction, not a synced write.
func (s *Store) Renew(ctx context.Context, key string, ttl time.Duration) ([]byte, error) {
	// fresh reports whether raw, read at now, may stay as it is.
	fresh := func(raw []byte, now time.Time) bool {
		exp := int64(binary.BigEndian.Uint64(raw))
		return exp == 0 || exp >= now.Add(ttl-ttl/30).UnixNano()
	}
	var out []byte
	renew := false
	err := s.view("kv renew", func(tx *bolt.Tx) error {
		now := time.Now()
		raw, v, err := liveValue(tx.Bucket(bKV), key, now)
		out, renew = v, err == nil && !fresh(raw, now)
		return err
	})
	if err != nil || !renew {
		return out, err
	}
	err = s.update("kv renew", func(tx *bolt.Tx) error {
		now := time.Now()
		b := tx.Bucket(bKV)
		raw, v, err := liveValue(b, key, now)
		out = v
		if err != nil || fresh(raw, now) {
			return err
		}
		return b.Put([]byte(key), kvEncode(out, ttl, now))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) sweepLoop() {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if n, err := s.sweep(); err != nil {
				slog.Warn("boltstore: sweep expired values", "err", err)
			} else if n > 0 {
				slog.Debug("boltstore: swept expired values", "count", n)
			}
		}
	}
}

// sweep deletes the expired KV values and answers how many.
func (s *Store) sweep() (int, error) {
	n := 0
	err := s.update("kv sweep", func(tx *bolt.Tx) error {
		now := time.Now()
		b := tx.Bucket(bKV)
		// Deleting under a moving cursor can skip keys, so collect first.
		var expired [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if _, ok := kvValue(v, now); !ok {
				expired = append(expired, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		n = len(expired)
		return deleteAll(tx, bKV, expired...)
	})
	return n, err
}

// Dump answers every key of every bucket, named "bucket/key", with its
// value. It is for tests that check what is stored.
func (s *Store) Dump(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.view("dump", func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				out[string(name)+"/"+string(k)] = bytes.Clone(v)
				return nil
			})
		})
	})
	return out, err
}
