package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// batchLookupScript resolves every index key KEYS[i] to an ID and the
// record under ARGV[1]..ID: the i-th element is {id, fields}, or false
// when the index or its record is missing.
var batchLookupScript = redis.NewScript(`
local out = {}
for i = 1, #KEYS do
  out[i] = false
  local id = redis.call('GET', KEYS[i])
  if id then
    local r = redis.call('HGETALL', ARGV[1] .. id)
    if #r > 0 then out[i] = {id, r} end
  end
end
return out
`)

// ProjectsByPaths looks up every path in one round trip (one script).
func (s *Store) ProjectsByPaths(ctx context.Context, paths []string) (map[string]tokens.Project, error) {
	const op = "projects by paths"
	out := make(map[string]tokens.Project, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	keys := make([]string, len(paths))
	for i, p := range paths {
		keys[i] = s.key("pp", fold(p))
	}
	v, err := batchLookupScript.Run(ctx, s.c, keys, s.key("p", "")).Slice()
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(v) != len(paths) {
		return nil, fmt.Errorf("%s: unexpected reply of %d elements for %d paths", op, len(v), len(paths))
	}
	for i, e := range v {
		if e == nil {
			continue
		}
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("%s: unexpected reply element %T", op, e)
		}
		id, err := parseID(pair[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		m, err := pairs(pair[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		p, err := decodeProject(id, m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out[paths[i]] = p
	}
	return out, nil
}
