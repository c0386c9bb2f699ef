package boltstore

import (
	"bytes"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// bbolt's B+tree keeps no ranks, so reaching the key at rank N of a list
// meant stepping over the N keys before it: page 400 of 50,000 projects
// walked 40,000 keys. bBlocks keeps, beside each count of bCounts, the
// count of the list's keys in every block of blockSize IDs (every counted
// list's keys end in an ID): the countKey of the list, then the block
// number (8 bytes) -> count (8 bytes). A rank is then reached by summing
// the blocks before it (one entry per blockSize IDs) and stepping within
// one block (fewer than blockSize keys), whatever the page: O(N/blockSize
// + blockSize) keys, not O(N). A tree that kept ranks in its nodes would
// do better but would replace bbolt; Redis' sorted sets keep ranks.
var bBlocks = []byte("count_blocks")

// blockBits is log2 of the IDs a block spans.
const blockBits = 10

// blockKey answers the bBlocks key of the block holding key, a key of the
// list whose countKey is ck.
func blockKey(ck, key []byte) []byte {
	return append(bytes.Clone(ck), itob(btoi(key[len(key)-8:])>>blockBits)...)
}

// reblock adds delta to the count of key's block, once recount has
// decided the key is added or removed. Before Open created bBlocks (a
// file written before it, while Open fills the other indexes) it does
// nothing: createBlocks then counts every block at once.
func reblock(tx *bolt.Tx, ck, key []byte, delta int) error {
	bb := tx.Bucket(bBlocks)
	if bb == nil || len(key) < 8 {
		return nil
	}
	k := blockKey(ck, key)
	n := 0
	if v := bb.Get(k); len(v) == 8 {
		n = int(binary.BigEndian.Uint64(v))
	}
	if n += delta; n <= 0 {
		return bb.Delete(k)
	}
	return bb.Put(k, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// createBlocks creates bBlocks in a file written before it existed, by
// walking the keys of the counted buckets, in Open's transaction after
// every other index is filled.
func createBlocks(tx *bolt.Tx) error {
	if tx.Bucket(bBlocks) != nil {
		return nil
	}
	bb, err := tx.CreateBucket(bBlocks)
	if err != nil {
		return err
	}
	for name, n := range counted {
		b := []byte(name)
		if tx.Bucket(b) == nil {
			continue
		}
		sizes := map[string]uint64{}
		c := tx.Bucket(b).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) >= n && len(k) >= 8 {
				sizes[string(blockKey(countKey(b, k[:n]), k))]++
			}
		}
		for k, size := range sizes {
			if err := bb.Put([]byte(k), binary.BigEndian.AppendUint64(nil, size)); err != nil {
				return err
			}
		}
	}
	return nil
}

// seekRank answers the first key of the list of b whose keys start with
// prefix (counted with lists of that prefix) from which rank keys remain
// to be stepped over to reach rank, and how many: the first key of the
// block holding rank, and rank less the keys of the blocks before it. It
// also answers the block entries it read.
func seekRank(tx *bolt.Tx, b, prefix []byte, rank int) (from []byte, skip, read int) {
	from, skip = prefix, rank
	bb := tx.Bucket(bBlocks)
	if bb == nil || rank == 0 {
		return from, skip, 0
	}
	ck := countKey(b, prefix)
	c := bb.Cursor()
	for k, v := c.Seek(ck); k != nil && len(k) == len(ck)+8 && bytes.HasPrefix(k, ck); k, v = c.Next() {
		read++
		n := int(binary.BigEndian.Uint64(v))
		if n > skip {
			return append(bytes.Clone(prefix), itob(btoi(k[len(ck):])<<blockBits)...), skip, read
		}
		skip -= n
	}
	return from, skip, read // past the end
}

// countBefore answers how many keys of the list of b whose keys start with
// prefix end in an ID smaller than id, and the block entries and keys it
// read: the blocks before id's, then the keys of id's block before it.
func countBefore(tx *bolt.Tx, b, prefix []byte, id int64) (n, read int) {
	first := prefix
	if bb := tx.Bucket(bBlocks); bb != nil {
		ck := countKey(b, prefix)
		end := append(bytes.Clone(ck), itob(id>>blockBits)...)
		c := bb.Cursor()
		for k, v := c.Seek(ck); k != nil && len(k) == len(ck)+8 && bytes.Compare(k, end) < 0; k, v = c.Next() {
			read++
			n += int(binary.BigEndian.Uint64(v))
		}
		first = append(bytes.Clone(prefix), itob(id>>blockBits<<blockBits)...)
	}
	c := tx.Bucket(b).Cursor()
	for k, _ := c.Seek(first); k != nil && bytes.HasPrefix(k, prefix) && btoi(k[len(k)-8:]) < id; k, _ = c.Next() {
		read++
		n++
	}
	return n, read
}
