package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// The audit trail's buckets, created by the first write (a file from
// before them reads as having no events).
var (
	bEvents    = []byte("audit_events") // id -> AuditEvent (JSON)
	bEventIdx  = []byte("audit_index")  // scope, 0, name, 0, time, id -> nothing
	bEventOnce = []byte("audit_once")   // Once -> nothing
	// bEventCounts keeps the size of each list (an eventPrefix), written
	// in the same transaction as its keys, so a page without a time
	// filter answers its total without walking the list.
	bEventCounts = []byte("audit_counts") // eventPrefix -> uint64
)

// createEventCounts fills bEventCounts in a file whose audit index was
// written before it existed, in Open's transaction. A file with no index
// yet gets both at its first event.
func createEventCounts(tx *bolt.Tx) error {
	idx := tx.Bucket(bEventIdx)
	if idx == nil || tx.Bucket(bEventCounts) != nil {
		return nil
	}
	counts, err := tx.CreateBucket(bEventCounts)
	if err != nil {
		return err
	}
	sizes := map[string]int64{}
	err = idx.ForEach(func(k, _ []byte) error {
		if len(k) > 16 {
			sizes[string(k[:len(k)-16])]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	for list, n := range sizes {
		if err := counts.Put([]byte(list), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
			return err
		}
	}
	return nil
}

// addEventCount adds delta to the size of the list of the index key k.
func addEventCount(counts *bolt.Bucket, k []byte, delta int64) error {
	list := k[:len(k)-16]
	n := delta
	if v := counts.Get(list); len(v) == 8 {
		n += int64(binary.BigEndian.Uint64(v))
	}
	if n <= 0 {
		return counts.Delete(list)
	}
	return counts.Put(list, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// eventScopes answers the lists e is in: "i" (every event), "p:ID",
// "g:ID".
func eventScopes(e *tokens.AuditEvent) []string {
	scopes := []string{"i"}
	if e.ProjectID != 0 {
		scopes = append(scopes, "p:"+strconv.FormatInt(e.ProjectID, 10))
	}
	if e.GroupID != 0 {
		scopes = append(scopes, "g:"+strconv.FormatInt(e.GroupID, 10))
	}
	return scopes
}

// eventPrefix is the start of the keys of one list: the events of scope,
// of name ("" for every name).
func eventPrefix(scope, name string) []byte {
	k := append([]byte(scope), 0)
	return append(append(k, name...), 0)
}

// timeKey encodes t so that byte order is time order, sign included.
func timeKey(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixMicro())^(1<<63))
}

// eventKeys answers every index key of e.
func eventKeys(e *tokens.AuditEvent) [][]byte {
	var keys [][]byte
	tail := append(timeKey(e.CreatedAt), itob(e.ID)...)
	for _, sc := range eventScopes(e) {
		for _, name := range []string{"", e.Name} {
			keys = append(keys, append(eventPrefix(sc, name), tail...))
		}
	}
	return keys
}

// AppendEvent stores e in its lists and ds in the delivery queue in one
// transaction; ErrConflict when e.Once was used before.
func (s *Store) AppendEvent(ctx context.Context, e *tokens.AuditEvent, ds []tokens.Delivery) error {
	var id int64
	err := s.update("append audit event", func(tx *bolt.Tx) error {
		bs, err := createBuckets(tx, bEvents, bEventIdx, bEventOnce, bEventCounts)
		if err != nil {
			return err
		}
		if e.Once != "" {
			if bs[2].Get([]byte(e.Once)) != nil {
				return tokens.ErrConflict
			}
			if err := bs[2].Put([]byte(e.Once), nil); err != nil {
				return err
			}
		}
		seq, err := bs[0].NextSequence()
		if err != nil {
			return err
		}
		ev := *e
		ev.ID = int64(seq)
		data, err := json.Marshal(&ev)
		if err != nil {
			return err
		}
		if err := bs[0].Put(itob(ev.ID), data); err != nil {
			return err
		}
		for _, k := range eventKeys(&ev) {
			if err := bs[1].Put(k, nil); err != nil {
				return err
			}
			if err := addEventCount(bs[3], k, 1); err != nil {
				return err
			}
		}
		for _, d := range ds {
			d.EventID = ev.ID
			if err := enqueue(tx, d); err != nil {
				return err
			}
		}
		id = ev.ID
		return nil
	})
	if err == nil {
		e.ID = id
	}
	return err
}

// createBuckets answers the buckets named, creating those missing.
func createBuckets(tx *bolt.Tx, names ...[]byte) ([]*bolt.Bucket, error) {
	out := make([]*bolt.Bucket, len(names))
	for i, n := range names {
		b, err := tx.CreateBucketIfNotExists(n)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// PageEvents answers a page of the events q selects, newest first.
// Without a time filter the list's count answers the total and the page
// is read from the list's end, stepping over only the keys before it
// (bolt keeps no ranks). With one, the index keys of the range are
// walked to count them (keys only, no records): bolt keeps no count of a
// time range, and a single node's trail is read by people, not by the
// token path.
func (s *Store) PageEvents(ctx context.Context, q tokens.EventQuery) ([]tokens.AuditEvent, int, error) {
	scope := "i"
	switch {
	case q.ProjectID != 0:
		scope = "p:" + strconv.FormatInt(q.ProjectID, 10)
	case q.GroupID != 0:
		scope = "g:" + strconv.FormatInt(q.GroupID, 10)
	}
	prefix := eventPrefix(scope, q.Name)
	lo := append(append([]byte(nil), prefix...), timeKey(time.UnixMicro(math.MinInt64))...)
	if !q.After.IsZero() {
		lo = append(append([]byte(nil), prefix...), timeKey(q.After)...)
	}
	var hiTime []byte
	if !q.Before.IsZero() {
		hiTime = timeKey(q.Before)
	}
	var (
		out   []tokens.AuditEvent
		total int
	)
	err := s.view("list audit events", func(tx *bolt.Tx) error {
		idx, events := tx.Bucket(bEventIdx), tx.Bucket(bEvents)
		if idx == nil {
			return nil
		}
		if q.After.IsZero() && q.Before.IsZero() {
			var err error
			out, total, err = s.pageEventsFromEnd(tx, prefix, q.Page)
			return err
		}
		var ids []int64
		c := idx.Cursor()
		for k, _ := c.Seek(lo); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			tail := k[len(prefix):]
			if len(tail) != 16 {
				continue
			}
			if hiTime != nil && bytes.Compare(tail[:8], hiTime) > 0 {
				break
			}
			ids = append(ids, btoi(tail[8:]))
		}
		total = len(ids)
		s.ops.keys.Add(int64(total))
		// Newest first: the page counts from the end.
		for i := total - 1 - q.Offset; i >= 0 && len(out) < q.Limit; i-- {
			data := events.Get(itob(ids[i]))
			if data == nil {
				continue
			}
			var e tokens.AuditEvent
			if err := json.Unmarshal(data, &e); err != nil {
				return fmt.Errorf("decode audit event %d: %w", ids[i], err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, total, err
}

// SweepEvents deletes the events created before before.
func (s *Store) SweepEvents(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.update("sweep audit events", func(tx *bolt.Tx) error {
		idx, events := tx.Bucket(bEventIdx), tx.Bucket(bEvents)
		if idx == nil {
			return nil
		}
		prefix := eventPrefix("i", "")
		hi := timeKey(before)
		var old []tokens.AuditEvent
		c := idx.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			tail := k[len(prefix):]
			if len(tail) != 16 || bytes.Compare(tail[:8], hi) >= 0 {
				break
			}
			var e tokens.AuditEvent
			if data := events.Get(tail[8:]); data != nil {
				if err := json.Unmarshal(data, &e); err != nil {
					return err
				}
				old = append(old, e)
			}
		}
		counts := tx.Bucket(bEventCounts)
		for i := range old {
			for _, k := range eventKeys(&old[i]) {
				if idx.Get(k) == nil {
					continue
				}
				if err := idx.Delete(k); err != nil {
					return err
				}
				if err := addEventCount(counts, k, -1); err != nil {
					return err
				}
			}
			if err := events.Delete(itob(old[i].ID)); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	return n, err
}

// pageEventsFromEnd answers the page p of the list prefix, newest first,
// and the list's size from its count.
func (s *Store) pageEventsFromEnd(tx *bolt.Tx, prefix []byte, p tokens.Page) ([]tokens.AuditEvent, int, error) {
	var total int
	if v := tx.Bucket(bEventCounts).Get(prefix); len(v) == 8 {
		total = int(binary.BigEndian.Uint64(v))
	}
	// Every key of the list sorts before the prefix with its final 0
	// made 1.
	end := append(append([]byte(nil), prefix[:len(prefix)-1]...), 1)
	c := tx.Bucket(bEventIdx).Cursor()
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	var out []tokens.AuditEvent
	skipped, walked := 0, 0
	events := tx.Bucket(bEvents)
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < p.Limit; k, _ = c.Prev() {
		walked++
		if len(k) != len(prefix)+16 {
			continue
		}
		if skipped < p.Offset {
			skipped++
			continue
		}
		data := events.Get(k[len(prefix)+8:])
		if data == nil {
			continue
		}
		var e tokens.AuditEvent
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, 0, fmt.Errorf("decode audit event %d: %w", btoi(k[len(prefix)+8:]), err)
		}
		out = append(out, e)
	}
	s.ops.keys.Add(int64(walked))
	return out, total, nil
}
