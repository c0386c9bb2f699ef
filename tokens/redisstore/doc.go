// Package redisstore is the tokens.Store that replicas share: every record
// lives in Redis (standalone, Sentinel or Cluster).
//
// It owns the Redis key layout and the encoding of records; nothing else may
// read or write these keys. Every key starts with the configurable prefix
// (default "deploytokens:") followed by the hash tag "{dt}:", so all keys
// hash to one Cluster slot and the Lua scripts and MULTI/EXEC transactions
// that change several keys at once work on Redis Cluster too. Key names are
// built by Store.key alone:
//
//	n:user n:pat n:project n:token   ID counters (INCR)
//	n:group
//	u:<id>                           user (hash)
//	un:<lowercase username>          user ID by username
//	t:<id>                           personal access token (hash)
//	th:<digest>                      PAT ID by raw digest
//	p:<id>                           project (hash)
//	pp:<lowercase path>              project ID by path with namespace
//	ps                               set of project IDs
//	pz                               lowercase paths of the projects (sorted
//	                                 set, score 0): which paths a new one
//	                                 would sit above (ZRANGEBYLEX)
//	pz:filled                        set once New has added the paths of
//	                                 projects older than pz to it
//	pm:<project id>                  members: user ID -> access level, created
//	um:<user id>                     set of the user's project IDs
//	d:<id>                           deploy token (hash)
//	dh:<digest>                      deploy token ID by raw digest
//	pd:<project id>                  set of the project's deploy token IDs
//	g:<id>                           group (hash)
//	gp:<lowercase full path>         group ID by full path
//	gs                               group IDs (sorted set, score the ID):
//	                                 ListGroups pages with ZRANGEBYSCORE,
//	                                 PageGroups by position with ZRANGE
//	gz                               lowercase full paths of the groups
//	                                 (sorted set, score 0), as pz
//	gg:<group id>                    subgroup IDs (sorted set, score the ID)
//	gr:<group id>                    IDs of the group's projects (sorted set)
//	gm:<group id>                    members, as pm
//	ug:<user id>                     set of the user's group IDs
//	gd:<group id>                    set of the group's deploy token IDs
//	gmz:<group id>                   member user IDs (sorted set, score the
//	                                 ID): PageGroupMembers
//	gdz:<group id>                   the group's deploy token IDs (sorted
//	                                 set, score the ID)
//	dz                               every deploy token ID (sorted set,
//	                                 score the ID): PageAllDeployTokens
//	kv:<key>                         KV values
//	gen                              generation: set anew by every write a
//	                                 replica's cache depends on (generation.go)
//	w                                counter each write that must reach a
//	                                 replica increments before WAIT 1 on
//	                                 the same connection (replicated.go)
//	replicated                       the master's replication ID while it
//	                                 has an online replica, kept 10 minutes
//	                                 (replicated.go)
//	decoy:d decoy:p decoy:t decoy:u  the decoy records (tokens.DecoyDeployToken):
//	                                 read by the auth scripts on a miss, for
//	                                 timing; in no index or ID set (decoy.go)
//	pdl:<project> gdl:<group> dl     the active deploy tokens of a list, and
//	pde:<project> gde:<group> de     the expiries of its tokens not revoked
//	pdw:<project> gdw:<group> dw     and the time they were last pruned at
//	                                 (activepages.go); de also feeds the
//	                                 expiry scan (expiry.go)
//	du:<lowercase username>          the deploy tokens ever named so
//	                                 (usernames.go)
//	ae:<id> aez:... aeo:<once>       audit events and their indexes by time
//	                                 (audit.go)
//	wh:<id> whz:p|g:<id>             webhooks and the lists of an owner's
//	wd:<id> wq                       deliveries and their queue by due time
//	                                 (hooks.go)
//
// A project in a group and a group deploy token keep the group's ID in
// their field "g". Records are hashes with one-letter fields and binary timestamps, and a
// deploy token's default username is not stored, to keep a deploy token
// near 430 bytes of Redis memory (BenchmarkDeployTokenByDigest reports it).
// Only digests of secrets are stored, and the CI token's secret only as the
// ciphertext the caller hands in.
//
// DeployTokenByDigest and PATByDigest are one EVALSHA each (after the
// first call on a server, which loads the script), and so is
// DeployTokenForAuth, which also reads the client's ban, so that
// authenticating a deploy token takes one round trip. The store keeps
// nothing in memory: the replica cache (package tokens/cache) wraps it,
// and reads the generation (Generation) to learn of other replicas'
// writes.
//
// URLs accepted by New:
//
//	redis://[user:pass@]host:port/db[?opts]            one server (redis.ParseURL)
//	rediss://...                                       the same over TLS
//	redis+sentinel://[user:pass@]host:port/db?master_name=NAME[&addr=host:port...]
//	rediss+sentinel://...                              Sentinel (redis.ParseFailoverURL;
//	                                                   userinfo authenticates to the sentinels)
//	redis+cluster://[user:pass@]host:port[?addr=host:port...]
//	rediss+cluster://...                               Cluster (redis.ParseClusterURL)
//
// The userinfo of a Sentinel URL authenticates to the sentinels only; the
// data nodes' password is the password query option. A redis:// URL naming
// a Cluster node is refused at start (its client would follow no MOVED).
// Every key shares one hash tag, so a Cluster holds the store on one
// master: it brings failover, not write capacity.
//
// Failover and waits (cluster.go, budget.go, replicated.go): every client
// honours its context's deadline (ContextTimeoutEnabled), and a store
// timeout put in the context by the caller (tokens.WithStoreTimeout)
// bounds each round trip, so a hung Redis costs a request its budget. A
// Cluster client reloads its slot map whenever a command fails for want of
// a server, so it finds a promoted replica at once. Ping reads a key under
// the hash tag, so it asks the node holding the data. Writes that create,
// revoke, delete, block or rotate wait for a replica (WAIT 1) when the
// master has one, and are refused while a replica it had is cut off (the
// replicated key), so a failover cannot undo what was acknowledged.
//
// Redis errors are translated at this edge: redis.Nil becomes
// tokens.ErrNotFound, a server that cannot be reached (refused, reset,
// timed out, loading, failing over) tokens.ErrUnavailable.
//
// The store does not decide who may do what (package tokens does) and never
// sees a plaintext secret.
package redisstore
