package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// setNamespaceScript: KEYS = project, group, the group's projects, the
// generation; ARGV = project ID, group ID, the project's group field, the
// path field, prefix of groups' project sets, a new generation. -1: the
// project or the group is missing, or the group's full path is not the
// project's namespace.
var setNamespaceScript = redis.NewScript(`
local path = redis.call('HGET', KEYS[1], ARGV[4])
local full = redis.call('HGET', KEYS[2], ARGV[4])
if not path or not full then return -1 end
local ns = string.match(path, '^(.*)/[^/]*$')
if not ns or string.lower(ns) ~= string.lower(full) then return -1 end
local old = redis.call('HGET', KEYS[1], ARGV[3])
if old == ARGV[2] then return 1 end
if old then redis.call('ZREM', ARGV[5] .. old, ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[1])
redis.call('SET', KEYS[4], ARGV[6])
return 1
`)

// SetProjectNamespace moves a project into its group in one script. Paths
// are ASCII (tokens.ValidateProjectPath), so Lua's string.lower folds
// them as fold does.
func (s *Store) SetProjectNamespace(ctx context.Context, projectID, groupID int64) error {
	n, err := runStatus(ctx, s.c, setNamespaceScript,
		[]string{s.idKey("p", projectID), s.idKey("g", groupID), s.idKey("gr", groupID), s.key("gen")},
		projectID, groupID, fGroup, fPathWithNS, s.key("gr", ""), newGeneration())
	return status("set project namespace", n, err)
}
