package redisstore

import (
	"fmt"
	"strconv"
)

// replyStrings is how many strings of records every reply of the auth
// scripts (authScript, patAuthScript) carries: the fields and values of
// the token and of its owner, then as many empty strings as make up the
// rest. A deploy token with its project is 22 strings where a personal
// access token with its user is 14 (those of cmd/dtbench's refusals), and
// Redis sending, go-redis reading and the store converting the 8 more
// made every deploy token refusal some microseconds slower than every
// PAT refusal, which tells a guesser which kind a secret is (issue 20,
// finding 6). 32 covers the records of both kinds as they usually are
// (a token that was used, with its last address and agent); a larger
// record is sent whole, unpadded.
const replyStrings = 32

// padLua defines pad(r, n) for the auth scripts: it appends to the reply
// r a last element of replyStrings-n empty strings (none when n is
// larger), n being the strings of records r holds, and answers r. Every
// reply gets it, so its Go side always strips one element (unpad).
var padLua = `
local function pad(r, n)
  local p = {}
  for i = n + 1, ` + strconv.Itoa(replyStrings) + ` do p[#p + 1] = '' end
  r[#r + 1] = p
  return r
end
`

// unpad answers a reply of the auth scripts without its padding (padLua),
// checking that it is there.
func unpad(v []any) ([]any, error) {
	if len(v) < 2 {
		return nil, fmt.Errorf("unexpected reply of %d elements", len(v))
	}
	if _, ok := v[len(v)-1].([]any); !ok {
		return nil, fmt.Errorf("unexpected padding %T", v[len(v)-1])
	}
	return v[:len(v)-1], nil
}
