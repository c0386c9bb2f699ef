package tokens

// ErrNotReplicated is a write the store made but that no replica confirmed
// in time, where replicas exist: a failover could still undo it, so it is
// not acknowledged. The client retries (every write it is given for is
// idempotent or refuses a duplicate).
var ErrNotReplicated = &Error{Kind: KindUnavailable, Message: "the change may or may not have been kept: no replica of the store confirmed it in time; retry it"}
