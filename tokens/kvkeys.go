package tokens

import (
	"encoding/hex"
	"strings"
)

// The KV's key namespaces, all built here so that no two owners can pick
// the same prefix and a store that caches a namespace (the Redis replica
// cache watches bans) names it from the same source as its writers.
// Keys that hold a digest take it raw and hex-encode it.
const (
	banPrefix          = "ban:"
	failPrefix         = "fail:"
	refreshPrefix      = "refresh:"
	refreshQuotaPrefix = "refreshes:"
	sessionPrefix      = "session:"
	flashPrefix        = "flash:"
	purgeLeasePrefix   = "purge-lease:"
	// federationPrefix starts the key of the federated identities of the
	// deploy tokens with one username: the exchange knows the username the
	// client sent and nothing else, and deploy token usernames need not be
	// unique. federationSeqKey counts their ids.
	federationPrefix = "federation:"
	federationSeqKey = "federation-seq"
	// expiryScanKey holds the time (RFC 3339) the last complete expiry
	// scan looked from, so the next one reads from there on.
	expiryScanKey = "expiry-scan:since"

	// deadPathsKey held every dead path in one JSON array before they
	// became store records (DeadPathStore); stores migrate it when they
	// open.
	deadPathsKey = "deadpaths"

	// KeySetKey holds the signing key set shared by replicas.
	KeySetKey = "jwks:keyset"
	// ChainKeySetKey holds the root key and the leaf signing keys issued
	// under it (signing mode x5c), apart from KeySetKey so switching modes
	// keeps each mode's keys.
	ChainKeySetKey = "jwks:chain"
	// SecretCheckKey holds the value that proves the server secret is the
	// one the store was created with.
	SecretCheckKey = "meta:secret-check"
)

// BanKeyPrefix starts the key of every ban; a store that caches the ban
// check must see writes under it.
const BanKeyPrefix = banPrefix

// BanKey is the key of addr's ban: its end as Unix seconds.
func BanKey(addr string) string { return banPrefix + addr }

// FailKey is the key of addr's failed-authentication counter.
func FailKey(addr string) string { return failPrefix + addr }

// RefreshKey is the key of the refresh token with digest.
func RefreshKey(digest []byte) string { return refreshPrefix + hex.EncodeToString(digest) }

// RefreshQuotaKey counts the refresh tokens given to the credential with
// digest.
func RefreshQuotaKey(digest []byte) string {
	return refreshQuotaPrefix + hex.EncodeToString(digest)
}

// SessionKey is the key of the web session with digest.
func SessionKey(digest []byte) string { return sessionPrefix + hex.EncodeToString(digest) }

// FlashKey is the key of a one-time message, by the digest of its session
// and id.
func FlashKey(digest []byte) string { return flashPrefix + hex.EncodeToString(digest) }

// PurgeLeaseKey is the key a replica holds while it deletes the images of
// a dead path, so replicas retrying in the background take turns.
func PurgeLeaseKey(path string) string { return purgeLeasePrefix + strings.ToLower(path) }
