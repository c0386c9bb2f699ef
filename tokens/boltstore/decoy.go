package boltstore

import (
	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// bDecoy holds the decoy records (tokens.DecoyDeployToken and its project,
// tokens.DecoyPAT and its user) in a bucket of their own: not in the
// record buckets, their indexes or the counts, so no list, page, count or
// lookup by ID ever sees them. Only DeployTokenForAuth and PATForAuth read
// them, on a miss, for timing.
var bDecoy = []byte("decoy")

// Keys of the decoy records in bDecoy.
var (
	decoyTokenKey   = []byte("deploy_token")
	decoyProjectKey = []byte("project")
	decoyPATKey     = []byte("pat")
	decoyUserKey    = []byte("user")
)

// createDecoy writes the decoy records when the bucket is missing (a new
// file, or one written before it existed), in Open's transaction.
func createDecoy(tx *bolt.Tx) error {
	if tx.Bucket(bDecoy) != nil {
		return nil
	}
	b, err := tx.CreateBucket(bDecoy)
	if err != nil {
		return err
	}
	d, p, t, u := tokens.DecoyDeployToken(), tokens.DecoyProject(), tokens.DecoyPAT(), tokens.DecoyUser()
	dv, err1 := encode(&d)
	pv, err2 := encode(&p)
	tv, err3 := encode(&t)
	uv, err4 := encode(&u)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return err
		}
	}
	for _, r := range []struct{ k, v []byte }{{decoyTokenKey, dv}, {decoyProjectKey, pv}, {decoyPATKey, tv}, {decoyUserKey, uv}} {
		if err := b.Put(r.k, r.v); err != nil {
			return err
		}
	}
	return nil
}

// readDecoy reads and decodes the decoy records at tk and ok into t and o,
// which the caller discards: on a miss, the work a found token and its
// owner cost (see tokens.DecoyDeployToken). It answers how many it
// decoded; its errors are ignored: the answer is "not found" whatever the
// decoy holds.
func readDecoy[T, O stored](tx *bolt.Tx, tk, ok []byte, t *T, o *O) int64 {
	b := tx.Bucket(bDecoy)
	if b == nil {
		return 0
	}
	var n int64
	if data := b.Get(tk); data != nil && decode(data, t) == nil {
		n++
	}
	if data := b.Get(ok); data != nil && decode(data, o) == nil {
		n++
	}
	return n
}
