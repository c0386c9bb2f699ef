package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// getAndByDigestScript reads the generation KEYS[3] ("0" when absent) and
// the KV value KEYS[2], then resolves the digest index KEYS[1] as
// byDigestScript does, taking the owner ID from the token's own fields:
// {gen, value} when the token or its owner is gone, else {gen, value, id,
// token fields, owner id, owner fields}. A missing value is a nil element.
var getAndByDigestScript = redis.NewScript(`
local g = redis.call('GET', KEYS[3]) or '0'
local v = redis.call('GET', KEYS[2])
local id = redis.call('GET', KEYS[1])
if not id then return {g, v} end
local t = redis.call('HGETALL', ARGV[1] .. id)
local oid
for i = 1, #t, 2 do
  if t[i] == ARGV[3] then oid = t[i + 1] end
end
if not oid then return {g, v} end
local o = redis.call('HGETALL', ARGV[2] .. oid)
if #o == 0 then return {g, v} end
return {g, v, id, t, oid, o}
`)

// errNoValue is the common answer of the ban check, made once.
var errNoValue = fmt.Errorf("kv get: %w", tokens.ErrNotFound)

// DeployTokenByDigestAndGet is Get(key) and DeployTokenByDigest(digest) in
// one round trip (one script): authentication reads the client address's
// ban together with the deploy token. Each answer comes with the error its
// own call would have answered; when Redis cannot answer, both errors are
// that failure. With the cache on, a usable token found before (and a key
// under Options.CachedKV) is answered from memory while the cache is fresh,
// when username is the token's username: one sent with another username is
// read from Redis, as a secret that matches nothing is, so that the time a
// refusal takes does not tell a live secret from a guess. Cached answers
// share their slices and pointers with the cache, so callers must not
// modify them (none does).
func (s *Store) DeployTokenByDigestAndGet(ctx context.Context, key string, digest []byte, username string) (value []byte, valueErr error, t tokens.DeployToken, p tokens.Project, err error) {
	cacheable := s.cache != nil && s.bumps(key)
	if cacheable {
		if v, ct, ok := s.cache.lookup(key, string(digest)); ok && tokens.Equal(ct.t.Username, username) {
			s.cache.hits.Add(1)
			if !v.found {
				valueErr = errNoValue
			}
			return v.value, valueErr, ct.t, ct.p, nil
		}
		s.cache.misses.Add(1)
	}
	gen, value, valueErr, t, p, err := s.deployTokenByDigestAndGet(ctx, key, digest)
	if cacheable && err == nil && (valueErr == nil || valueErr == errNoValue) {
		read := s.cache.now()
		s.cache.store(gen, key, cachedValue{value: value, found: valueErr == nil, read: read},
			string(digest), cachedToken{t: t, p: p, read: read})
	}
	return value, valueErr, t, p, err
}

func (s *Store) deployTokenByDigestAndGet(ctx context.Context, key string, digest []byte) (gen string, value []byte, valueErr error, t tokens.DeployToken, p tokens.Project, err error) {
	const op = "deploy token by digest"
	v, err := getAndByDigestScript.Run(ctx, s.c,
		[]string{s.key("dh", string(digest)), s.key("kv", key), s.key("gen")},
		s.key("d", ""), s.key("p", ""), fProject).Slice()
	if err != nil {
		err = wrap(op, err)
		return "", nil, fmt.Errorf("kv get: %w", err), t, p, err
	}
	if len(v) < 2 {
		err = fmt.Errorf("%s: unexpected reply of %d elements", op, len(v))
		return "", nil, err, t, p, err
	}
	gen, ok := v[0].(string)
	if !ok || gen == "" {
		err = fmt.Errorf("%s: unexpected generation %v", op, v[0])
		return "", nil, err, t, p, err
	}
	switch v[1] {
	case nil:
		valueErr = errNoValue
	default:
		str, ok := v[1].(string)
		if !ok {
			valueErr = fmt.Errorf("kv get: unexpected value %T", v[1])
		}
		value = []byte(str)
	}
	if len(v) == 2 {
		return gen, value, valueErr, t, p, fmt.Errorf("%s: %w", op, tokens.ErrNotFound)
	}
	tid, tm, pid, pm, err := byDigestReply(v[2:])
	if err == nil {
		t, p, err = decodeDeployTokenOf(tid, tm, pid, pm)
	}
	if err != nil {
		return gen, value, valueErr, tokens.DeployToken{}, tokens.Project{}, fmt.Errorf("%s: %w", op, err)
	}
	return gen, value, valueErr, t, p, nil
}
