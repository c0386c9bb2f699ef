package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// batch bounds how many commands one pipeline sends when listing.
const batch = 1000

// maxTxRetries bounds the optimistic transactions that lose to a
// concurrent writer.
const maxTxRetries = 32

// status turns a script's status reply into the store's errors.
func status(op string, n int64, err error) error {
	if err != nil {
		return wrap(op, err)
	}
	switch n {
	case 1:
		return nil
	case 0:
		return fmt.Errorf("%s: %w", op, tokens.ErrConflict)
	case -1:
		return fmt.Errorf("%s: %w", op, tokens.ErrNotFound)
	case -2:
		return fmt.Errorf("%s: %w", op, tokens.ErrLastOwner)
	case -3:
		return fmt.Errorf("%s: %w", op, tokens.ErrNested)
	case -4:
		return fmt.Errorf("%s: %w", op, tokens.ErrReserved)
	}
	return fmt.Errorf("%s: unexpected script status %d", op, n)
}

func (s *Store) nextID(ctx context.Context, kind string) (int64, error) {
	return s.c.Incr(ctx, s.key("n", kind)).Result()
}

func runStatus(ctx context.Context, c redis.Scripter, sc *redis.Script, keys []string, args ...any) (int64, error) {
	return sc.Run(ctx, c, keys, args...).Int64()
}

// CreateUser assigns u.ID and stores u; ErrConflict when the username is
// taken in any case.
func (s *Store) CreateUser(ctx context.Context, u *tokens.User) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "create user"
	f, err := encodeUser(u)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	id, err := s.nextID(ctx, "user")
	if err != nil {
		return wrap(op, err)
	}
	n, err := runStatus(ctx, s.c, createUserScript,
		[]string{s.key("un", fold(u.Username)), s.idKey("u", id), s.key("uz"), s.key("gp", fold(u.Username))},
		append([]any{id}, f...)...)
	if err := status(op, n, err); err != nil {
		return err
	}
	u.ID = id
	return nil
}

// User answers the user with id.
func (s *Store) User(ctx context.Context, id int64) (tokens.User, error) {
	return readRecord(ctx, s, "user", "u", id, decodeUser)
}

// readRecord reads the hash of the record kind id and decodes it; ErrNotFound,
// naming what, when there is none.
func readRecord[T any](ctx context.Context, s *Store, what, kind string, id int64, decode func(int64, map[string]string) (T, error)) (T, error) {
	var zero T
	m, err := s.c.HGetAll(ctx, s.idKey(kind, id)).Result()
	if err != nil {
		return zero, wrap(what, err)
	}
	if len(m) == 0 {
		return zero, fmt.Errorf("%s %d: %w", what, id, tokens.ErrNotFound)
	}
	return decode(id, m)
}

// UserByUsername answers the user whose username equals username in any
// case.
func (s *Store) UserByUsername(ctx context.Context, username string) (tokens.User, error) {
	id, m, err := s.lookup(ctx, s.key("un", fold(username)), s.key("u", ""))
	if err != nil {
		return tokens.User{}, wrap("user by username", err)
	}
	return decodeUser(id, m)
}

// lookup resolves index to an ID and the record at template+ID in one
// round trip.
func (s *Store) lookup(ctx context.Context, index, template string) (int64, map[string]string, error) {
	v, err := lookupScript.Run(ctx, s.c, []string{index}, template).Slice()
	if err != nil {
		return 0, nil, err
	}
	if len(v) != 2 {
		return 0, nil, fmt.Errorf("unexpected lookup reply of %d elements", len(v))
	}
	id, err := parseID(v[0])
	if err != nil {
		return 0, nil, err
	}
	m, err := pairs(v[1])
	return id, m, err
}

func parseID(v any) (int64, error) {
	str, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("unexpected id %T", v)
	}
	return strconv.ParseInt(str, 10, 64)
}

// CreatePAT assigns t.ID and stores t with its digest index; ErrNotFound
// when the user does not exist.
func (s *Store) CreatePAT(ctx context.Context, t *tokens.PersonalAccessToken) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "create personal access token"
	if len(t.Digest) == 0 {
		return fmt.Errorf("%s: empty digest", op)
	}
	f, err := encodePAT(t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	id, err := s.nextID(ctx, "pat")
	if err != nil {
		return wrap(op, err)
	}
	n, err := runStatus(ctx, s.c, createPATScript, s.patKeys(t, id), append([]any{id}, f...)...)
	if err := status(op, n, err); err != nil {
		return err
	}
	t.ID = id
	return nil
}

// PATByDigest finds a token and its user in one round trip.
func (s *Store) PATByDigest(ctx context.Context, digest []byte) (tokens.PersonalAccessToken, tokens.User, error) {
	const op = "personal access token by digest"
	tid, tm, uid, um, err := s.byDigest(ctx, s.key("th", string(digest)), s.key("t", ""), s.key("u", ""), fUser)
	if err != nil {
		return tokens.PersonalAccessToken{}, tokens.User{}, wrap(op, err)
	}
	t, err := decodePAT(tid, tm)
	if err != nil {
		return tokens.PersonalAccessToken{}, tokens.User{}, fmt.Errorf("%s: %w", op, err)
	}
	u, err := decodeUser(uid, um)
	if err != nil {
		return tokens.PersonalAccessToken{}, tokens.User{}, fmt.Errorf("%s: %w", op, err)
	}
	return t, u, nil
}

func (s *Store) byDigest(ctx context.Context, index, tokenTemplate, ownerTemplate, ownerField string) (int64, map[string]string, int64, map[string]string, error) {
	v, err := byDigestScript.Run(ctx, s.c, []string{index}, tokenTemplate, ownerTemplate, ownerField).Slice()
	if err != nil {
		return 0, nil, 0, nil, err
	}
	return byDigestReply(v)
}

// byDigestReply parses what the digest scripts answer for a token found:
// {id, token fields, owner id, owner fields}.
func byDigestReply(v []any) (int64, map[string]string, int64, map[string]string, error) {
	if len(v) != 4 {
		return 0, nil, 0, nil, fmt.Errorf("unexpected lookup reply of %d elements", len(v))
	}
	tid, err1 := parseID(v[0])
	tm, err2 := pairs(v[1])
	oid, err3 := parseID(v[2])
	om, err4 := pairs(v[3])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return 0, nil, 0, nil, err
	}
	return tid, tm, oid, om, nil
}

// TouchPAT sets LastUsedAt.
func (s *Store) TouchPAT(ctx context.Context, id int64, at time.Time) error {
	return s.touch(ctx, "touch personal access token", s.idKey("t", id), at)
}

// PAT answers a token by id.
func (s *Store) PAT(ctx context.Context, id int64) (tokens.PersonalAccessToken, error) {
	return readRecord(ctx, s, "personal access token", "t", id, decodePAT)
}

// RevokePAT marks a token revoked. PATs are not cached, so the next
// request with it, on any replica, is refused.
func (s *Store) RevokePAT(ctx context.Context, id int64) (err error) {
	defer s.ackReplicated(ctx, &err)
	n, err := runStatus(ctx, s.c, setFieldScript, []string{s.idKey("t", id)}, fRevoked, "1")
	return status("revoke personal access token", n, err)
}

func (s *Store) touch(ctx context.Context, op, key string, at time.Time) error {
	b, err := at.MarshalBinary()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	n, err := runStatus(ctx, s.c, setFieldScript, []string{key}, fLastUsed, b)
	return status(op, n, err)
}

// CreateProject assigns p.ID and stores p with its owner member in one
// script; ErrConflict when the path is taken in any case, ErrNested when it
// sits inside another project's path or holds one, ErrNotFound when the
// owner does not exist.
func (s *Store) CreateProject(ctx context.Context, p *tokens.Project, owner tokens.Member) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "create project"
	f, err := encodeProject(p)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	mv, err := encodeMember(&owner)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	id, err := s.nextID(ctx, "project")
	if err != nil {
		return wrap(op, err)
	}
	keys, args := s.createProjectArgs(p.PathWithNamespace, p.Visibility, p.NamespaceID, id, owner.UserID, mv, f)
	n, err := runStatus(ctx, s.c, createProjectScript, keys, args...)
	if err := status(op, n, err); err != nil {
		return err
	}
	p.ID = id
	return nil
}

// createProjectArgs answers createProjectScript's keys and arguments for
// project id at path, of visibility vis, in the group namespaceID (0:
// none), with its owner's member value mv and its fields f.
func (s *Store) createProjectArgs(path string, vis tokens.Visibility, namespaceID, id, ownerID int64, mv string, f fields) ([]string, []any) {
	lower := fold(path)
	namespace := lower[:max(strings.LastIndexByte(lower, '/'), 0)]
	keys := []string{
		s.key("pp", lower),
		s.idKey("p", id),
		s.key("ps"),
		s.idKey("pm", id),
		s.idKey("um", ownerID),
		s.idKey("u", ownerID),
		s.key("pz"),
		s.key("gz"),
		s.key("gp", lower),
		s.key("gp", namespace),
		s.idKey("gr", namespaceID),
		s.key("dpz"),
		s.projectIndex(tokens.AllProjects),
		s.projectIndex(tokens.InternalProjects),
		s.projectIndex(tokens.PublicProjects),
		s.idKey("pmz", id),
	}
	for i := range len(lower) {
		if lower[i] == '/' {
			keys = append(keys, s.key("pp", lower[:i]))
		}
	}
	return keys, append([]any{id, ownerID, mv, lower, s.key("pp", ""), namespaceID, len(tokens.ProjectIndexesOf(vis))}, f...)
}

// Project answers the project with id.
func (s *Store) Project(ctx context.Context, id int64) (tokens.Project, error) {
	return readRecord(ctx, s, "project", "p", id, decodeProject)
}

// ProjectByPath answers the project whose path with namespace equals
// pathWithNamespace in any case.
func (s *Store) ProjectByPath(ctx context.Context, pathWithNamespace string) (tokens.Project, error) {
	id, m, err := s.lookup(ctx, s.key("pp", fold(pathWithNamespace)), s.key("p", ""))
	if err != nil {
		return tokens.Project{}, wrap("project by path", err)
	}
	return decodeProject(id, m)
}

// ListProjects answers every project ordered by ID.
func (s *Store) ListProjects(ctx context.Context) ([]tokens.Project, error) {
	const op = "list projects"
	ids, err := s.members(ctx, s.key("ps"))
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]tokens.Project, 0, len(ids))
	err = s.hgetall(ctx, "p", ids, func(id int64, m map[string]string) error {
		p, err := decodeProject(id, m)
		out = append(out, p)
		return err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// members answers the IDs in the set at key in ascending order.
func (s *Store) members(ctx context.Context, key string) ([]int64, error) {
	v, err := s.c.SMembers(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(v))
	for i, str := range v {
		if ids[i], err = strconv.ParseInt(str, 10, 64); err != nil {
			return nil, fmt.Errorf("set %q: %w", key, err)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// hgetall reads the records kind:ID for ids in pipelines of batch commands
// and calls fn, in the order of ids, for every one that still exists.
func (s *Store) hgetall(ctx context.Context, kind string, ids []int64, fn func(int64, map[string]string) error) error {
	for chunk := range slices.Chunk(ids, batch) {
		pipe := s.c.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(chunk))
		for i, id := range chunk {
			cmds[i] = pipe.HGetAll(ctx, s.idKey(kind, id))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for i, cmd := range cmds {
			if len(cmd.Val()) == 0 { // deleted since the set was read
				continue
			}
			if err := fn(chunk[i], cmd.Val()); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteProject removes a project with its members and deploy tokens, in
// one transaction that is retried when a concurrent write touches them.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	return s.deleteProject(ctx, "delete project", id, nil)
}

// deleteProject deletes project id and, with reserve set, reserves its
// path in the same transaction: reserve, with the project's path and ID
// set, replaces the reservation of that path.
func (s *Store) deleteProject(ctx context.Context, op string, id int64, reserve *tokens.DeadPath) (err error) {
	defer s.ackReplicated(ctx, &err)
	pkey, tokensKey, membersKey := s.idKey("p", id), s.idKey("pd", id), s.idKey("pm", id)
	txf := func(tx *redis.Tx) error {
		path, err := tx.HGet(ctx, pkey, fPathWithNS).Result()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("project %d: %w", id, tokens.ErrNotFound)
		} else if err != nil {
			return err
		}
		namespace, err := tx.HGet(ctx, pkey, fGroup).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		tokenIDs, err := tx.SMembers(ctx, tokensKey).Result()
		if err != nil {
			return err
		}
		userIDs, err := tx.HKeys(ctx, membersKey).Result()
		if err != nil {
			return err
		}
		digests := make([]*redis.StringCmd, len(tokenIDs))
		prevDigests := make([]*redis.StringCmd, len(tokenIDs))
		usernames := make([]*redis.StringCmd, len(tokenIDs))
		if len(tokenIDs) > 0 {
			pipe := tx.Pipeline()
			for i, tid := range tokenIDs {
				digests[i] = pipe.HGet(ctx, s.key("d", tid), fDigest)
				prevDigests[i] = pipe.HGet(ctx, s.key("d", tid), fPrevDigest)
				usernames[i] = pipe.HGet(ctx, s.key("d", tid), fUsername)
			}
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
		}
		var dead fields
		if reserve != nil {
			reserve.Path, reserve.ProjectID = path, id
			if dead, err = encodeDeadPath(reserve); err != nil {
				return err
			}
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if reserve != nil {
				s.reserve(ctx, p, reserve, dead)
			}
			p.Del(ctx, pkey, s.key("pp", fold(path)), tokensKey, membersKey, s.idKey("pdz", id), s.idKey("pmz", id))
			live, exp, mark := s.activeKeys(tokens.DeployTokenList{ProjectID: id})
			allLive, allExp, _ := s.activeKeys(tokens.DeployTokenList{})
			p.Del(ctx, live, exp, mark)
			p.SRem(ctx, s.key("ps"), id)
			for _, i := range tokens.ProjectIndexesOf(tokens.Public) { // all of them
				p.ZRem(ctx, s.projectIndex(i), id)
			}
			p.ZRem(ctx, s.key("pz"), fold(path))
			if namespace != "" {
				p.ZRem(ctx, s.key("gr", namespace), id)
			}
			p.Set(ctx, s.key("gen"), newGeneration(), 0)
			for i, tid := range tokenIDs {
				p.Del(ctx, s.key("d", tid))
				p.ZRem(ctx, s.key("dz"), tid)
				p.ZRem(ctx, allLive, tid)
				p.ZRem(ctx, allExp, tid)
				if d, err := digests[i].Result(); err == nil {
					p.Del(ctx, s.key("dh", d))
				}
				if d, err := prevDigests[i].Result(); err == nil {
					p.Del(ctx, s.key("dh", d))
				}
				u, err := usernames[i].Result()
				if errors.Is(err, redis.Nil) { // the default one is not stored
					n, _ := strconv.ParseInt(tid, 10, 64)
					u = tokens.DefaultDeployTokenUsername(n)
				}
				p.ZRem(ctx, s.usernameKey(u), tid)
			}
			for _, uid := range userIDs {
				p.SRem(ctx, s.key("um", uid), id)
			}
			return nil
		})
		return err
	}
	for range maxTxRetries {
		err := s.c.Watch(ctx, txf, pkey, tokensKey, membersKey)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		return wrap(op, err)
	}
	return fmt.Errorf("%s: %w: too much concurrent change", op, tokens.ErrConflict)
}

// PutMember creates or updates m; ErrNotFound when the project or the user
// does not exist.
func (s *Store) PutMember(ctx context.Context, m tokens.Member) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "put member"
	v, err := encodeMember(&m)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	n, err := runStatus(ctx, s.c, putMemberScript,
		[]string{s.idKey("p", m.ProjectID), s.idKey("u", m.UserID), s.idKey("pm", m.ProjectID), s.idKey("um", m.UserID), s.idKey("pmz", m.ProjectID)},
		m.UserID, m.ProjectID, v, ownerPrefix)
	return status(op, n, err)
}

// Member answers the membership of userID in projectID.
func (s *Store) Member(ctx context.Context, projectID, userID int64) (tokens.Member, error) {
	v, err := s.c.HGet(ctx, s.idKey("pm", projectID), strconv.FormatInt(userID, 10)).Result()
	if err != nil {
		return tokens.Member{}, wrap("member", err)
	}
	return decodeMember(projectID, userID, v)
}

// ListMembers answers a project's members ordered by user ID.
func (s *Store) ListMembers(ctx context.Context, projectID int64) ([]tokens.Member, error) {
	const op = "list members"
	all, err := s.c.HGetAll(ctx, s.idKey("pm", projectID)).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]tokens.Member, 0, len(all))
	for f, v := range all {
		uid, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		m, err := decodeMember(projectID, uid, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b tokens.Member) int { return cmp.Compare(a.UserID, b.UserID) })
	return out, nil
}

// MembershipsOf answers a user's memberships ordered by project ID.
func (s *Store) MembershipsOf(ctx context.Context, userID int64) ([]tokens.Member, error) {
	const op = "memberships"
	pids, err := s.members(ctx, s.idKey("um", userID))
	if err != nil {
		return nil, wrap(op, err)
	}
	field := strconv.FormatInt(userID, 10)
	out := make([]tokens.Member, 0, len(pids))
	for chunk := range slices.Chunk(pids, batch) {
		pipe := s.c.Pipeline()
		cmds := make([]*redis.StringCmd, len(chunk))
		for i, pid := range chunk {
			cmds[i] = pipe.HGet(ctx, s.idKey("pm", pid), field)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, wrap(op, err)
		}
		for i, cmd := range cmds {
			v, err := cmd.Result()
			if errors.Is(err, redis.Nil) { // removed since the set was read
				continue
			}
			m, err := decodeMember(chunk[i], userID, v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// DeleteMember removes userID from projectID; ErrNotFound when it is not a
// member.
func (s *Store) DeleteMember(ctx context.Context, projectID, userID int64) (err error) {
	defer s.ackReplicated(ctx, &err)
	n, err := runStatus(ctx, s.c, deleteMemberScript,
		[]string{s.idKey("pm", projectID), s.idKey("um", userID), s.idKey("pmz", projectID)}, userID, projectID, ownerPrefix)
	return status("delete member", n, err)
}

// CreateDeployToken assigns t.ID, defaults t.Username, and stores t with
// its digest index; ErrNotFound when the project does not exist.
func (s *Store) CreateDeployToken(ctx context.Context, t *tokens.DeployToken) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "create deploy token"
	if len(t.Digest) == 0 {
		return fmt.Errorf("%s: empty digest", op)
	}
	if (t.ProjectID == 0) == (t.GroupID == 0) {
		return fmt.Errorf("%s: of project %d and group %d: want exactly one", op, t.ProjectID, t.GroupID)
	}
	id, err := s.nextID(ctx, "token")
	if err != nil {
		return wrap(op, err)
	}
	rec := *t
	rec.ID = id
	if rec.Username == "" {
		rec.Username = tokens.DefaultDeployTokenUsername(id)
	}
	f, err := encodeDeployToken(&rec)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	keys, args := s.createDeployTokenArgs(&rec, f)
	n, err := runStatus(ctx, s.c, createDeployTokenScript, keys, args...)
	if err := status(op, n, err); err != nil {
		return err
	}
	*t = rec
	return nil
}

// createDeployTokenArgs answers createDeployTokenScript's keys and
// arguments for the deploy token rec (its ID assigned) with its fields f.
func (s *Store) createDeployTokenArgs(rec *tokens.DeployToken, f fields) ([]string, []any) {
	args := append([]any{rec.ID, 3, expiryArg(rec)}, f...)
	if rec.GroupID != 0 {
		return append([]string{s.idKey("g", rec.GroupID), s.key("dh", string(rec.Digest)), s.idKey("d", rec.ID), s.idKey("gd", rec.GroupID), s.key("dz"), s.idKey("gdz", rec.GroupID), s.usernameKey(rec.Username)}, s.activeKeysOf(rec)...),
			args
	}
	return append([]string{s.idKey("p", rec.ProjectID), s.key("dh", string(rec.Digest)), s.idKey("d", rec.ID), s.idKey("pd", rec.ProjectID), s.key("dz"), s.idKey("pdz", rec.ProjectID), s.usernameKey(rec.Username)}, s.activeKeysOf(rec)...),
		args
}

// DeployToken answers the token id of projectID.
func (s *Store) DeployToken(ctx context.Context, projectID, id int64) (tokens.DeployToken, error) {
	m, err := s.c.HGetAll(ctx, s.idKey("d", id)).Result()
	if err != nil {
		return tokens.DeployToken{}, wrap("deploy token", err)
	}
	t, err := decodeDeployToken(id, m)
	if err != nil {
		return tokens.DeployToken{}, fmt.Errorf("deploy token: %w", err)
	}
	// A group's token has project 0, which no project has.
	if len(m) == 0 || t.ProjectID != projectID || projectID == 0 {
		return tokens.DeployToken{}, fmt.Errorf("deploy token %d/%d: %w", projectID, id, tokens.ErrNotFound)
	}
	return t, nil
}

// ListDeployTokens answers a project's tokens ordered by ID.
func (s *Store) ListDeployTokens(ctx context.Context, projectID int64) ([]tokens.DeployToken, error) {
	const op = "list deploy tokens"
	ids, err := s.members(ctx, s.idKey("pd", projectID))
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := s.deployTokens(ctx, ids)
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

func (s *Store) deployTokens(ctx context.Context, ids []int64) ([]tokens.DeployToken, error) {
	out := make([]tokens.DeployToken, 0, len(ids))
	err := s.hgetall(ctx, "d", ids, func(id int64, m map[string]string) error {
		t, err := decodeDeployToken(id, m)
		out = append(out, t)
		return err
	})
	return out, err
}

// ListAllDeployTokens answers every token, of projects and of groups,
// ordered by ID. It reads the per-project and per-group sets, so no global
// index costs memory per token.
func (s *Store) ListAllDeployTokens(ctx context.Context) ([]tokens.DeployToken, error) {
	const op = "list all deploy tokens"
	pids, err := s.members(ctx, s.key("ps"))
	if err != nil {
		return nil, wrap(op, err)
	}
	var ids []int64
	for chunk := range slices.Chunk(pids, batch) {
		pipe := s.c.Pipeline()
		cmds := make([]*redis.StringSliceCmd, len(chunk))
		for i, pid := range chunk {
			cmds[i] = pipe.SMembers(ctx, s.idKey("pd", pid))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, wrap(op, err)
		}
		for _, cmd := range cmds {
			for _, v := range cmd.Val() {
				id, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", op, err)
				}
				ids = append(ids, id)
			}
		}
	}
	gids, err := s.groupTokenIDs(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	ids = append(ids, gids...)
	slices.Sort(ids)
	out, err := s.deployTokens(ctx, ids)
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// RevokeDeployToken marks the token revoked; the record stays.
func (s *Store) RevokeDeployToken(ctx context.Context, projectID, id int64) (err error) {
	defer s.ackReplicated(ctx, &err)
	n, err := s.revokeDeployToken(ctx, tokens.DeployTokenList{ProjectID: projectID}, fProject, projectID, id)
	return status("revoke deploy token", n, err)
}

// DeployTokenByDigest finds a token and its project (a group token: its
// group, answering a zero Project) in one round trip, the script
// DeployTokenForAuth runs; ErrNotFound when either is gone.
func (s *Store) DeployTokenByDigest(ctx context.Context, digest []byte) (tokens.DeployToken, tokens.Project, error) {
	const op = "deploy token by digest"
	a, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: digest})
	if err != nil {
		return tokens.DeployToken{}, tokens.Project{}, fmt.Errorf("%s: %w", op, err)
	}
	if !a.Found {
		return tokens.DeployToken{}, tokens.Project{}, fmt.Errorf("%s: %w", op, tokens.ErrNotFound)
	}
	return a.Token, a.Project, nil
}

// decodeDeployTokenOf decodes a deploy token and its project as the digest
// scripts read them.
func decodeDeployTokenOf(tid int64, tm map[string]string, pid int64, pm map[string]string) (tokens.DeployToken, tokens.Project, error) {
	t, err := decodeDeployToken(tid, tm)
	if err != nil {
		return tokens.DeployToken{}, tokens.Project{}, err
	}
	p, err := decodeProject(pid, pm)
	if err != nil {
		return tokens.DeployToken{}, tokens.Project{}, err
	}
	return t, p, nil
}

// TouchDeployToken sets LastUsedAt.
func (s *Store) TouchDeployToken(ctx context.Context, id int64, at time.Time) error {
	return s.touch(ctx, "touch deploy token", s.idKey("d", id), at)
}
