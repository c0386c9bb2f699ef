package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/deploy"
)

// getAndByDigestScript reads the KV value KEYS[2], then resolves the digest
// index KEYS[1] as byDigestScript does, taking the owner ID from the token's
// own fields: {value} when the token or its owner is gone, else {value, id,
// token fields, owner id, owner fields}. A missing value is a nil element.
var getAndByDigestScript = redis.NewScript(`
local v = redis.call('GET', KEYS[2])
local id = redis.call('GET', KEYS[1])
if not id then return {v} end
local t = redis.call('HGETALL', ARGV[1] .. id)
local oid
for i = 1, #t, 2 do
  if t[i] == ARGV[3] then oid = t[i + 1] end
end
if not oid then return {v} end
local o = redis.call('HGETALL', ARGV[2] .. oid)
if #o == 0 then return {v} end
return {v, id, t, oid, o}
`)

// errNoValue is the common answer of the ban check, made once.
var errNoValue = fmt.Errorf("kv get: %w", deploy.ErrNotFound)

// DeployTokenByDigestAndGet is Get(key) and DeployTokenByDigest(digest) in
// one round trip (one script): authentication reads the client address's
// ban together with the deploy token. Each answer comes with the error its
// own call would have answered; when Redis cannot answer, both errors are
// that failure.
func (s *Store) DeployTokenByDigestAndGet(ctx context.Context, key string, digest []byte) (value []byte, valueErr error, t deploy.DeployToken, p deploy.Project, err error) {
	const op = "deploy token by digest"
	v, err := getAndByDigestScript.Run(ctx, s.c,
		[]string{s.key("dh", string(digest)), s.key("kv", key)},
		s.key("d", ""), s.key("p", ""), fProject).Slice()
	if err != nil {
		err = wrap(op, err)
		return nil, fmt.Errorf("kv get: %w", err), t, p, err
	}
	switch {
	case len(v) == 0:
		err = fmt.Errorf("%s: unexpected reply of 0 elements", op)
		return nil, err, t, p, err
	case v[0] == nil:
		valueErr = errNoValue
	default:
		str, ok := v[0].(string)
		if !ok {
			valueErr = fmt.Errorf("kv get: unexpected value %T", v[0])
		}
		value = []byte(str)
	}
	switch len(v) {
	case 1:
		return value, valueErr, t, p, fmt.Errorf("%s: %w", op, deploy.ErrNotFound)
	case 5:
	default:
		return value, valueErr, t, p, fmt.Errorf("%s: unexpected reply of %d elements", op, len(v))
	}
	tid, err := parseID(v[1])
	if err != nil {
		return value, valueErr, t, p, fmt.Errorf("%s: %w", op, err)
	}
	tm, err := pairs(v[2])
	if err == nil {
		t, err = decodeDeployToken(tid, tm)
	}
	if err != nil {
		return value, valueErr, deploy.DeployToken{}, p, fmt.Errorf("%s: %w", op, err)
	}
	pid, err := parseID(v[3])
	if err != nil {
		return value, valueErr, deploy.DeployToken{}, p, fmt.Errorf("%s: %w", op, err)
	}
	pm, err := pairs(v[4])
	if err == nil {
		p, err = decodeProject(pid, pm)
	}
	if err != nil {
		return value, valueErr, deploy.DeployToken{}, deploy.Project{}, fmt.Errorf("%s: %w", op, err)
	}
	return value, valueErr, t, p, nil
}
