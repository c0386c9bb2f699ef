package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// rotateScript rotates the deploy token KEYS[1] when its owner field
// ARGV[1] is ARGV[2] and it is not revoked: claims the new digest's index
// KEYS[2] (set to ARGV[3], the ID), drops the index of the previous digest
// (keys are ARGV[4] .. digest), keeps the current digest's index and makes
// it the previous one until ARGV[5] (an encoded time; "" drops it at
// once), sets the new digest ARGV[6], the rotation time ARGV[7] and the CI
// secret ARGV[8] ("" deletes it), clears the previous secret's last use,
// sets the generation KEYS[3] to ARGV[9] and answers {1, fields}. -1: no
// such token of the owner; 0: revoked, or the digest taken.
var rotateScript = redis.NewScript(fmt.Sprintf(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
if redis.call('HGET', KEYS[1], %[1]q) == '1' then return 0 end
if not redis.call('SET', KEYS[2], ARGV[3], 'NX') then return 0 end
local cur = redis.call('HGET', KEYS[1], %[2]q)
local prev = redis.call('HGET', KEYS[1], %[3]q)
if prev then redis.call('DEL', ARGV[4] .. prev) end
redis.call('HDEL', KEYS[1], %[3]q, %[4]q, %[7]q, %[8]q, %[9]q)
if ARGV[5] == '' then
  if cur then redis.call('DEL', ARGV[4] .. cur) end
elseif cur then
  redis.call('HSET', KEYS[1], %[3]q, cur, %[4]q, ARGV[5])
end
redis.call('HSET', KEYS[1], %[2]q, ARGV[6], %[5]q, ARGV[7])
if ARGV[8] == '' then redis.call('HDEL', KEYS[1], %[6]q) else redis.call('HSET', KEYS[1], %[6]q, ARGV[8]) end
redis.call('SET', KEYS[3], ARGV[9])
return {1, redis.call('HGETALL', KEYS[1])}
`, fRevoked, fDigest, fPrevDigest, fPrevUntil, fRotated, fCISecret, fPrevLastUsed, fPrevLastIP, fPrevLastAgent))

// RotateDeployToken rotates the token in one script. The previous digest
// keeps its index key (no expiry: the grace is decided by the record, on
// the server's clock) until the next rotation or the token's deletion.
func (s *Store) RotateDeployToken(ctx context.Context, r tokens.DeployTokenRotation) (_ tokens.DeployToken, err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "rotate deploy token"
	if len(r.Digest) == 0 {
		return tokens.DeployToken{}, fmt.Errorf("%s: empty digest", op)
	}
	ownerField, owner := fProject, r.ProjectID
	if r.GroupID != 0 {
		ownerField, owner = fGroup, r.GroupID
	}
	if owner == 0 {
		return tokens.DeployToken{}, fmt.Errorf("%s %d: %w", op, r.ID, tokens.ErrNotFound)
	}
	var times fields
	if err := times.timePtr(fPrevUntil, r.PrevUntil); err != nil {
		return tokens.DeployToken{}, fmt.Errorf("%s: %w", op, err)
	}
	until := any("")
	if len(times) == 2 {
		until = times[1]
	}
	at, err := r.At.MarshalBinary()
	if err != nil {
		return tokens.DeployToken{}, fmt.Errorf("%s: %w", op, err)
	}
	v, err := rotateScript.Run(ctx, s.c, []string{s.idKey("d", r.ID), s.key("dh", string(r.Digest)), s.key("gen")},
		ownerField, owner, r.ID, s.key("dh", ""), until, r.Digest, at, r.CISecret, newGeneration()).Result()
	if err != nil {
		return tokens.DeployToken{}, wrap(op, err)
	}
	reply, ok := v.([]any)
	if !ok {
		n, _ := v.(int64)
		return tokens.DeployToken{}, status(op, n, nil)
	}
	if len(reply) != 2 {
		return tokens.DeployToken{}, fmt.Errorf("%s: unexpected reply of %d elements", op, len(reply))
	}
	m, err := pairs(reply[1])
	if err != nil {
		return tokens.DeployToken{}, fmt.Errorf("%s: %w", op, err)
	}
	t, err := decodeDeployToken(r.ID, m)
	if err != nil {
		return tokens.DeployToken{}, fmt.Errorf("%s: %w", op, err)
	}
	return t, nil
}

// rotatePATGraceScript is rotatePATScript keeping the old token: KEYS =
// old token, user, new digest index, new token, tokens, user's tokens;
// ARGV = new ID, user ID, the old token's new expiry ("" revokes it),
// prefix of token keys, new token's fields... The token the old one was
// rotated from (its previous field) is revoked; the old one, kept, is
// marked replaced so that it is never rotated twice. Statuses as
// rotatePATScript's (0 for a replaced token too).
var rotatePATGraceScript = redis.NewScript(fmt.Sprintf(`
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], %[1]q) ~= ARGV[2] then return -1 end
if redis.call('HGET', KEYS[1], %[2]q) == '1' or redis.call('HEXISTS', KEYS[1], %[5]q) == 1 then return 0 end
if not redis.call('SET', KEYS[3], ARGV[1], 'NX') then return 0 end
local prev = redis.call('HGET', KEYS[1], %[3]q)
if prev and redis.call('EXISTS', ARGV[4] .. prev) == 1 then redis.call('HSET', ARGV[4] .. prev, %[2]q, '1') end
redis.call('HDEL', KEYS[1], %[3]q)
if ARGV[3] == '' then redis.call('HSET', KEYS[1], %[2]q, '1') else redis.call('HSET', KEYS[1], %[4]q, ARGV[3], %[5]q, ARGV[1]) end
redis.call('HSET', KEYS[4], unpack(ARGV, 5))
redis.call('ZADD', KEYS[5], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[1], ARGV[1])
return 1
`, fUser, fRevoked, fPrevious, fExpires, fReplacedBy))

// RotatePATWithGrace is RotatePAT keeping the old token until oldUntil, in
// one script. The old token's expiry is the earlier of its own and
// oldUntil, decided here: the script can't compare encoded times, and a
// PAT's expiry never changes otherwise.
func (s *Store) RotatePATWithGrace(ctx context.Context, oldID int64, t *tokens.PersonalAccessToken, oldUntil time.Time) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "rotate personal access token"
	if len(t.Digest) == 0 {
		return fmt.Errorf("%s: empty digest", op)
	}
	until := any("")
	if !oldUntil.IsZero() {
		old, err := s.PAT(ctx, oldID)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if old.ExpiresAt != nil && old.ExpiresAt.Before(oldUntil) {
			oldUntil = *old.ExpiresAt
		}
		b, err := oldUntil.MarshalBinary()
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		until = b
	}
	f, err := encodePAT(t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	id, err := s.nextID(ctx, "pat")
	if err != nil {
		return wrap(op, err)
	}
	k := s.patKeys(t, id)
	n, err := runStatus(ctx, s.c, rotatePATGraceScript,
		[]string{s.idKey("t", oldID), k[0], k[1], k[2], k[3], k[4]},
		append([]any{id, t.UserID, until, s.key("t", "")}, f...)...)
	if err := status(op, n, err); err != nil {
		return err
	}
	t.ID = id
	return nil
}
