package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// Group keys (see the package documentation): g:<id> the group, gp:<lower
// full path> its ID, gs the sorted set of group IDs (score: the ID), gz
// the lowercase full paths (score 0, for ZRANGEBYLEX), gg:<id> its
// subgroups and gr:<id> its projects (sorted sets, score: the ID),
// gm:<id> its members (as pm), ug:<user id> the user's groups, gd:<id>
// its deploy tokens.

// Fields of a group's hash besides the shared ones (fName, fPath,
// fPathWithNS for the full path, fVisibility, fCreator, fCreated).
const (
	fParent      = "q"
	fDescription = "d"
)

// statusNotEmpty is the scripts' status for ErrNotEmpty.
const statusNotEmpty = -4

// groupStatus is status with ErrNotEmpty.
func groupStatus(op string, n int64, err error) error {
	if err == nil && n == statusNotEmpty {
		return fmt.Errorf("%s: %w", op, tokens.ErrNotEmpty)
	}
	return status(op, n, err)
}

// createGroupScript: KEYS = path index, group, group IDs, group paths,
// members, owner's groups, owner user, username index of the path,
// project path index of the path, the parent's path index, the parent's
// subgroups, the sorted set of member IDs, then the project path index of
// every namespace above the path; ARGV = group ID, owner ID, owner's member value, parent ID ("0":
// top level), lowercase full path, group fields... -1: the owner or the
// parent at the namespace is missing; 0: a user, a project or a group has
// the path; -3: a project's path is above it.
var createGroupScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[7]) == 0 then return -1 end
if ARGV[4] ~= '0' and redis.call('GET', KEYS[10]) ~= ARGV[4] then return -1 end
if redis.call('EXISTS', KEYS[8]) == 1 or redis.call('EXISTS', KEYS[9]) == 1 then return 0 end
for i = 13, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return -3 end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[5])
redis.call('HSET', KEYS[5], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[6], ARGV[1])
redis.call('ZADD', KEYS[12], ARGV[2], ARGV[2])
if ARGV[4] ~= '0' then redis.call('ZADD', KEYS[11], ARGV[1], ARGV[1]) end
return 1
`)

// deleteGroupScript: KEYS = group, its path index, group IDs, group
// paths, subgroups, projects, members, deploy tokens, the parent's
// subgroups, the generation, the sorted sets of member IDs, of the group's
// deploy token IDs and of every deploy token ID, the live set and the
// expiries of every token's active list, the live set, expiries and
// watermark of the group's; ARGV = group ID,
// lowercase full path, prefix
// of users' group sets, prefix of deploy token keys, prefix of digest
// index keys, the digest field, a new generation, the previous digest
// field (of a rotation), the prefix of the sets of the tokens of a
// username (usernames are ASCII, so Lua's lower folds as fold does), the
// username field (absent: the default, gitlab+deploy-token-ID). -4: not empty.
var deleteGroupScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('ZCARD', KEYS[5]) > 0 or redis.call('ZCARD', KEYS[6]) > 0 then return -4 end
for _, tid in ipairs(redis.call('SMEMBERS', KEYS[8])) do
  local d = redis.call('HGET', ARGV[4] .. tid, ARGV[6])
  if d then redis.call('DEL', ARGV[5] .. d) end
  local pd = ARGV[8] and redis.call('HGET', ARGV[4] .. tid, ARGV[8])
  if pd then redis.call('DEL', ARGV[5] .. pd) end
  local u = redis.call('HGET', ARGV[4] .. tid, ARGV[10])
  redis.call('ZREM', ARGV[9] .. string.lower(u or ('gitlab+deploy-token-' .. tid)), tid)
  redis.call('DEL', ARGV[4] .. tid)
  redis.call('ZREM', KEYS[13], tid)
  redis.call('ZREM', KEYS[14], tid)
  redis.call('ZREM', KEYS[15], tid)
end
for _, uid in ipairs(redis.call('HKEYS', KEYS[7])) do
  redis.call('SREM', ARGV[3] .. uid, ARGV[1])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[1], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[11], KEYS[12], KEYS[16], KEYS[17], KEYS[18])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[9], ARGV[1])
redis.call('SET', KEYS[10], ARGV[7])
return 1
`)

// updateFieldsScript sets the fields ARGV[1], ARGV[2], ... of the record
// KEYS[1] to ARGV[2], ARGV[4], ..., deleting those whose value is empty
// (records leave zero values out), when the record exists.
var updateFieldsScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
`)

// recordsScript answers {id, fields, id, fields, ...} for ARGV[1]..ID of
// every ID the index keys KEYS hold that has a record: GroupsAlong.
var recordsScript = redis.NewScript(`
local out = {}
for i = 1, #KEYS do
  local id = redis.call('GET', KEYS[i])
  if id then
    local r = redis.call('HGETALL', ARGV[1] .. id)
    if #r > 0 then
      out[#out + 1] = id
      out[#out + 1] = r
    end
  end
end
return out
`)

// pageScript answers, like recordsScript, the records ARGV[3]..ID of up to
// ARGV[2] IDs above ARGV[1] in the sorted set KEYS[1] (score: the ID).
var pageScript = redis.NewScript(`
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, ARGV[2])) do
  local r = redis.call('HGETALL', ARGV[3] .. id)
  if #r > 0 then
    out[#out + 1] = id
    out[#out + 1] = r
  end
end
return out
`)

func encodeGroup(g *tokens.Group) (fields, error) {
	// The full path is always written: a hash needs a field to exist, and
	// DeleteGroup reads it to free the path index.
	f := fields{fPathWithNS, g.FullPath}
	f.str(fPath, g.Path)
	f.str(fName, g.Name)
	f.int(fParent, g.ParentID)
	f.str(fVisibility, string(g.Visibility))
	f.str(fDescription, g.Description)
	f.int(fCreator, g.CreatorID)
	err := f.time(fCreated, g.CreatedAt)
	return f, err
}

func decodeGroup(id int64, m map[string]string) (tokens.Group, error) {
	r := record{m: m}
	g := tokens.Group{
		ID:          id,
		Name:        r.str(fName),
		Path:        r.str(fPath),
		FullPath:    r.str(fPathWithNS),
		ParentID:    r.int(fParent),
		Visibility:  tokens.Visibility(r.str(fVisibility)),
		Description: r.str(fDescription),
		CreatorID:   r.int(fCreator),
		CreatedAt:   r.time(fCreated),
	}
	return g, r.err
}

// A group member is stored as a project member is (encodeMember).
func encodeGroupMember(m *tokens.GroupMember) (string, error) {
	return encodeMember(&tokens.Member{AccessLevel: m.AccessLevel, CreatedAt: m.CreatedAt})
}

func decodeGroupMember(groupID, userID int64, v string) (tokens.GroupMember, error) {
	m, err := decodeMember(groupID, userID, v)
	return tokens.GroupMember{GroupID: groupID, UserID: userID, AccessLevel: m.AccessLevel, CreatedAt: m.CreatedAt}, err
}

// decodeGroupTokenOf decodes {id, token fields, group id, group fields}
// as authScript answers them for a group token.
func decodeGroupTokenOf(v []any) (tokens.DeployToken, tokens.Group, error) {
	tid, tm, gid, gm, err := byDigestReply(v)
	if err != nil {
		return tokens.DeployToken{}, tokens.Group{}, err
	}
	t, err := decodeDeployToken(tid, tm)
	if err != nil {
		return tokens.DeployToken{}, tokens.Group{}, err
	}
	g, err := decodeGroup(gid, gm)
	if err != nil {
		return tokens.DeployToken{}, tokens.Group{}, err
	}
	return t, g, nil
}

// decodeGroups decodes what recordsScript and pageScript answer.
func decodeGroups(v []any) ([]tokens.Group, error) {
	if len(v)%2 != 0 {
		return nil, fmt.Errorf("unexpected reply of %d elements", len(v))
	}
	out := make([]tokens.Group, 0, len(v)/2)
	for i := 0; i < len(v); i += 2 {
		id, err := parseID(v[i])
		if err != nil {
			return nil, err
		}
		m, err := pairs(v[i+1])
		if err != nil {
			return nil, err
		}
		g, err := decodeGroup(id, m)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// namespaces answers the lowercase paths above lower: "a", "a/b" for
// "a/b/c".
func namespaces(lower string) []string {
	var out []string
	for i := range len(lower) {
		if lower[i] == '/' {
			out = append(out, lower[:i])
		}
	}
	return out
}

// CreateGroup assigns g.ID and stores g with its owner member in one
// script.
func (s *Store) CreateGroup(ctx context.Context, g *tokens.Group, owner tokens.GroupMember) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "create group"
	lower := fold(g.FullPath)
	above := namespaces(lower)
	if (len(above) == 0) != (g.ParentID == 0) {
		// A top-level path with a parent, or a nested one without.
		return fmt.Errorf("%s: parent group %d of %q: %w", op, g.ParentID, g.FullPath, tokens.ErrNotFound)
	}
	parentPath := ""
	if len(above) > 0 {
		parentPath = above[len(above)-1]
	}
	f, err := encodeGroup(g)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	mv, err := encodeGroupMember(&owner)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	id, err := s.nextID(ctx, "group")
	if err != nil {
		return wrap(op, err)
	}
	keys := []string{
		s.key("gp", lower),
		s.idKey("g", id),
		s.key("gs"),
		s.key("gz"),
		s.idKey("gm", id),
		s.idKey("ug", owner.UserID),
		s.idKey("u", owner.UserID),
		s.key("un", lower),
		s.key("pp", lower),
		s.key("gp", parentPath),
		s.idKey("gg", g.ParentID),
		s.idKey("gmz", id),
	}
	for _, ns := range above {
		keys = append(keys, s.key("pp", ns))
	}
	n, err := runStatus(ctx, s.c, createGroupScript, keys, append([]any{id, owner.UserID, mv, g.ParentID, lower}, f...)...)
	if err := status(op, n, err); err != nil {
		return err
	}
	g.ID = id
	return nil
}

// Group answers the group with id.
func (s *Store) Group(ctx context.Context, id int64) (tokens.Group, error) {
	return readRecord(ctx, s, "group", "g", id, decodeGroup)
}

// GroupByPath answers the group whose full path equals fullPath in any
// case.
func (s *Store) GroupByPath(ctx context.Context, fullPath string) (tokens.Group, error) {
	id, m, err := s.lookup(ctx, s.key("gp", fold(fullPath)), s.key("g", ""))
	if err != nil {
		return tokens.Group{}, wrap("group by path", err)
	}
	return decodeGroup(id, m)
}

// GroupsAlong answers the groups at path and at every namespace above it,
// outermost first, in one script.
func (s *Store) GroupsAlong(ctx context.Context, path string) ([]tokens.Group, error) {
	const op = "groups along"
	if path == "" {
		return nil, nil
	}
	lower := fold(path)
	var keys []string
	for _, ns := range append(namespaces(lower), lower) {
		keys = append(keys, s.key("gp", ns))
	}
	v, err := recordsScript.Run(ctx, s.c, keys, s.key("g", "")).Slice()
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := decodeGroups(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// ListGroups answers up to limit groups above afterID, by ID, in one
// script over the sorted set of group IDs.
func (s *Store) ListGroups(ctx context.Context, afterID int64, limit int) ([]tokens.Group, error) {
	const op = "list groups"
	if limit < 1 {
		return nil, nil
	}
	v, err := pageScript.Run(ctx, s.c, []string{s.key("gs")}, max(afterID, 0), limit, s.key("g", "")).Slice()
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := decodeGroups(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// zmembers answers the IDs in the sorted set at key (score: the ID) in
// ascending order.
func (s *Store) zmembers(ctx context.Context, key string) ([]int64, error) {
	v, err := s.c.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(v))
	for i, str := range v {
		if ids[i], err = strconv.ParseInt(str, 10, 64); err != nil {
			return nil, fmt.Errorf("sorted set %q: %w", key, err)
		}
	}
	return ids, nil
}

// listRecords reads the records kind:ID of the IDs in the sorted set at
// key, in ID order.
func listRecords[T any](ctx context.Context, s *Store, op, key, kind string, decode func(int64, map[string]string) (T, error)) ([]T, error) {
	ids, err := s.zmembers(ctx, key)
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]T, 0, len(ids))
	err = s.hgetall(ctx, kind, ids, func(id int64, m map[string]string) error {
		v, err := decode(id, m)
		out = append(out, v)
		return err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// ListSubgroups answers the groups whose parent is parentID, by ID.
func (s *Store) ListSubgroups(ctx context.Context, parentID int64) ([]tokens.Group, error) {
	return listRecords(ctx, s, "list subgroups", s.idKey("gg", parentID), "g", decodeGroup)
}

// ListGroupProjects answers the projects of groupID, by ID.
func (s *Store) ListGroupProjects(ctx context.Context, groupID int64) ([]tokens.Project, error) {
	return listRecords(ctx, s, "list group projects", s.idKey("gr", groupID), "p", decodeProject)
}

// UpdateGroup sets the group's name, description and visibility.
func (s *Store) UpdateGroup(ctx context.Context, g tokens.Group) (err error) {
	defer s.ackReplicated(ctx, &err)
	n, err := runStatus(ctx, s.c, updateFieldsScript, []string{s.idKey("g", g.ID)},
		fName, g.Name, fDescription, g.Description, fVisibility, string(g.Visibility))
	return status("update group", n, err)
}

// DeleteGroup removes an empty group with its members and deploy tokens
// in one script, which sets the generation.
func (s *Store) DeleteGroup(ctx context.Context, id int64) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "delete group"
	// The full path and the parent of an ID never change, so reading them
	// first is safe; the script checks the group is still there.
	g, err := s.Group(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	lower := fold(g.FullPath)
	live, exp, mark := s.activeKeys(tokens.DeployTokenList{GroupID: id})
	allLive, allExp, _ := s.activeKeys(tokens.DeployTokenList{})
	n, err := runStatus(ctx, s.c, deleteGroupScript,
		[]string{
			s.idKey("g", id), s.key("gp", lower), s.key("gs"), s.key("gz"), s.idKey("gg", id),
			s.idKey("gr", id), s.idKey("gm", id), s.idKey("gd", id), s.idKey("gg", g.ParentID), s.key("gen"),
			s.idKey("gmz", id), s.idKey("gdz", id), s.key("dz"),
			allLive, allExp, live, exp, mark,
		},
		id, lower, s.key("ug", ""), s.key("d", ""), s.key("dh", ""), fDigest, newGeneration(), fPrevDigest, s.key("du", ""), fUsername)
	return groupStatus(op, n, err)
}

// PutGroupMember creates or updates m, in the script PutMember runs.
func (s *Store) PutGroupMember(ctx context.Context, m tokens.GroupMember) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "put group member"
	v, err := encodeGroupMember(&m)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	n, err := runStatus(ctx, s.c, putMemberScript,
		[]string{s.idKey("g", m.GroupID), s.idKey("u", m.UserID), s.idKey("gm", m.GroupID), s.idKey("ug", m.UserID), s.idKey("gmz", m.GroupID)},
		m.UserID, m.GroupID, v, ownerPrefix)
	return status(op, n, err)
}

// GroupMember answers the membership of userID in groupID.
func (s *Store) GroupMember(ctx context.Context, groupID, userID int64) (tokens.GroupMember, error) {
	v, err := s.c.HGet(ctx, s.idKey("gm", groupID), strconv.FormatInt(userID, 10)).Result()
	if err != nil {
		return tokens.GroupMember{}, wrap("group member", err)
	}
	return decodeGroupMember(groupID, userID, v)
}

// ListGroupMembers answers a group's members ordered by user ID.
func (s *Store) ListGroupMembers(ctx context.Context, groupID int64) ([]tokens.GroupMember, error) {
	const op = "list group members"
	all, err := s.c.HGetAll(ctx, s.idKey("gm", groupID)).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]tokens.GroupMember, 0, len(all))
	for f, v := range all {
		uid, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		m, err := decodeGroupMember(groupID, uid, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b tokens.GroupMember) int { return cmp.Compare(a.UserID, b.UserID) })
	return out, nil
}

// GroupMembershipsOf answers a user's group memberships ordered by group
// ID.
func (s *Store) GroupMembershipsOf(ctx context.Context, userID int64) ([]tokens.GroupMember, error) {
	const op = "group memberships"
	gids, err := s.members(ctx, s.idKey("ug", userID))
	if err != nil {
		return nil, wrap(op, err)
	}
	field := strconv.FormatInt(userID, 10)
	out := make([]tokens.GroupMember, 0, len(gids))
	for chunk := range slices.Chunk(gids, batch) {
		pipe := s.c.Pipeline()
		cmds := make([]*redis.StringCmd, len(chunk))
		for i, gid := range chunk {
			cmds[i] = pipe.HGet(ctx, s.idKey("gm", gid), field)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, wrap(op, err)
		}
		for i, cmd := range cmds {
			v, err := cmd.Result()
			if errors.Is(err, redis.Nil) { // removed since the set was read
				continue
			}
			m, err := decodeGroupMember(chunk[i], userID, v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// DeleteGroupMember removes userID from groupID, in the script
// DeleteMember runs.
func (s *Store) DeleteGroupMember(ctx context.Context, groupID, userID int64) (err error) {
	defer s.ackReplicated(ctx, &err)
	n, err := runStatus(ctx, s.c, deleteMemberScript,
		[]string{s.idKey("gm", groupID), s.idKey("ug", userID), s.idKey("gmz", groupID)}, userID, groupID, ownerPrefix)
	return status("delete group member", n, err)
}

// ListGroupDeployTokens answers a group's tokens ordered by ID.
func (s *Store) ListGroupDeployTokens(ctx context.Context, groupID int64) ([]tokens.DeployToken, error) {
	const op = "list group deploy tokens"
	ids, err := s.members(ctx, s.idKey("gd", groupID))
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := s.deployTokens(ctx, ids)
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// groupTokenIDs answers the IDs of every group's deploy tokens, reading
// the per-group sets.
func (s *Store) groupTokenIDs(ctx context.Context) ([]int64, error) {
	gids, err := s.zmembers(ctx, s.key("gs"))
	if err != nil {
		return nil, err
	}
	var ids []int64
	for chunk := range slices.Chunk(gids, batch) {
		pipe := s.c.Pipeline()
		cmds := make([]*redis.StringSliceCmd, len(chunk))
		for i, gid := range chunk {
			cmds[i] = pipe.SMembers(ctx, s.idKey("gd", gid))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		for _, cmd := range cmds {
			for _, v := range cmd.Val() {
				id, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, err
				}
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// GroupDeployToken answers the token id of groupID.
func (s *Store) GroupDeployToken(ctx context.Context, groupID, id int64) (tokens.DeployToken, error) {
	m, err := s.c.HGetAll(ctx, s.idKey("d", id)).Result()
	if err != nil {
		return tokens.DeployToken{}, wrap("group deploy token", err)
	}
	t, err := decodeDeployToken(id, m)
	if err != nil {
		return tokens.DeployToken{}, fmt.Errorf("group deploy token: %w", err)
	}
	if len(m) == 0 || t.GroupID != groupID || groupID == 0 {
		return tokens.DeployToken{}, fmt.Errorf("group deploy token %d/%d: %w", groupID, id, tokens.ErrNotFound)
	}
	return t, nil
}

// RevokeGroupDeployToken marks the token revoked and sets the generation
// in one script; the record stays.
func (s *Store) RevokeGroupDeployToken(ctx context.Context, groupID, id int64) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "revoke group deploy token"
	if groupID == 0 {
		return fmt.Errorf("%s %d/%d: %w", op, groupID, id, tokens.ErrNotFound)
	}
	n, err := s.revokeDeployToken(ctx, tokens.DeployTokenList{GroupID: groupID}, fGroup, groupID, id)
	return status(op, n, err)
}
