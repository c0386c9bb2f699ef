package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// recordLastUsesScript writes the last uses of the records KEYS, skipping
// those that are gone (HSET would make a stray hash of a deleted token).
// ARGV holds seven values per key: the time, address and user agent of
// the last use, then the previous secret's time ("": none), address, user
// agent and digest, recorded only while the record's previous digest is
// that one.
var recordLastUsesScript = redis.NewScript(fmt.Sprintf(`
for i = 1, #KEYS do
  local a = (i - 1) * 7
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HSET', KEYS[i], %[1]q, ARGV[a + 1], %[2]q, ARGV[a + 2], %[3]q, ARGV[a + 3])
    if ARGV[a + 4] ~= '' and redis.call('HGET', KEYS[i], %[4]q) == ARGV[a + 7] then
      redis.call('HSET', KEYS[i], %[5]q, ARGV[a + 4], %[6]q, ARGV[a + 5], %[7]q, ARGV[a + 6])
    end
  end
end
return 1
`, fLastUsed, fLastIP, fLastAgent, fPrevDigest, fPrevLastUsed, fPrevLastIP, fPrevLastAgent))

// lastUsesPerScript bounds the keys of one script call, so a large batch
// does not hold Redis for long in one script; the calls still go in one
// pipeline.
const lastUsesPerScript = 500

// RecordLastUses writes the batch in one pipeline of scripts.
func (s *Store) RecordLastUses(ctx context.Context, uses []tokens.LastUse) error {
	const op = "record last uses"
	if len(uses) == 0 {
		return nil
	}
	pipe := s.c.Pipeline()
	for start := 0; start < len(uses); start += lastUsesPerScript {
		chunk := uses[start:min(start+lastUsesPerScript, len(uses))]
		keys := make([]string, 0, len(chunk))
		args := make([]any, 0, 7*len(chunk))
		for i := range chunk {
			u := &chunk[i]
			kind := "t"
			if u.DeployToken {
				kind = "d"
			}
			keys = append(keys, s.idKey(kind, u.ID))
			at, err := u.At.MarshalBinary()
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			prevAt := []byte{}
			if u.PrevAt != nil {
				if prevAt, err = u.PrevAt.MarshalBinary(); err != nil {
					return fmt.Errorf("%s: %w", op, err)
				}
			}
			args = append(args, at, u.IP, u.Agent, prevAt, u.PrevIP, u.PrevAgent, u.PrevDigest)
		}
		recordLastUsesScript.Eval(ctx, pipe, keys, args...)
	}
	_, err := pipe.Exec(ctx)
	return wrap(op, err)
}
