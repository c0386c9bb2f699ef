package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// Webhooks and their delivery queue, created by the first write. A single
// node has no other replica to share the queue with: a claim's lease only
// matters across a restart, when what was claimed is due again after it.
var (
	bHooks      = []byte("hooks")          // id -> Hook (JSON)
	bHookLists  = []byte("hook_lists")     // "p:ID" or "g:ID", 0, hook id -> nothing
	bDeliveries = []byte("deliveries")     // id -> queued (JSON)
	bQueue      = []byte("delivery_queue") // due (unix ms), delivery id -> nothing
)

// queued is a delivery as the queue keeps it: with its due time, to find
// its queue key.
type queued struct {
	D   tokens.Delivery `json:"d"`
	Due int64           `json:"due"`
}

func hookListKey(projectID, groupID int64, id int64) []byte {
	scope := "p:" + strconv.FormatInt(projectID, 10)
	if groupID != 0 {
		scope = "g:" + strconv.FormatInt(groupID, 10)
	}
	return append(append([]byte(scope), 0), itob(id)...)
}

func queueKey(due, id int64) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(due)), itob(id)...)
}

// enqueue adds d to the queue, due at its creation.
func enqueue(tx *bolt.Tx, d tokens.Delivery) error {
	bs, err := createBuckets(tx, bDeliveries, bQueue)
	if err != nil {
		return err
	}
	seq, err := bs[0].NextSequence()
	if err != nil {
		return err
	}
	d.ID = int64(seq)
	return putQueued(bs, queued{D: d, Due: d.CreatedAt.UnixMilli()})
}

func putQueued(bs []*bolt.Bucket, q queued) error {
	data, err := json.Marshal(&q)
	if err != nil {
		return err
	}
	if err := bs[0].Put(itob(q.D.ID), data); err != nil {
		return err
	}
	return bs[1].Put(queueKey(q.Due, q.D.ID), nil)
}

// CreateHook assigns h.ID and stores h.
func (s *Store) CreateHook(ctx context.Context, h *tokens.Hook) error {
	return s.update("create hook", func(tx *bolt.Tx) error {
		bs, err := createBuckets(tx, bHooks, bHookLists)
		if err != nil {
			return err
		}
		seq, err := bs[0].NextSequence()
		if err != nil {
			return err
		}
		rec := *h
		rec.ID = int64(seq)
		data, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		if err := bs[0].Put(itob(rec.ID), data); err != nil {
			return err
		}
		if err := bs[1].Put(hookListKey(rec.ProjectID, rec.GroupID, rec.ID), nil); err != nil {
			return err
		}
		h.ID = rec.ID
		return nil
	})
}

func getHook(tx *bolt.Tx, id int64) (tokens.Hook, error) {
	var h tokens.Hook
	b := tx.Bucket(bHooks)
	if b == nil {
		return h, notFound("hook", id)
	}
	data := b.Get(itob(id))
	if data == nil {
		return h, notFound("hook", id)
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("decode hook %d: %w", id, err)
	}
	return h, nil
}

// Hook answers the hook with id.
func (s *Store) Hook(ctx context.Context, id int64) (h tokens.Hook, err error) {
	err = s.view("read hook", func(tx *bolt.Tx) error {
		h, err = getHook(tx, id)
		return err
	})
	return h, err
}

// ListHooks answers a project's or a group's hooks ordered by ID.
func (s *Store) ListHooks(ctx context.Context, projectID, groupID int64) ([]tokens.Hook, error) {
	var out []tokens.Hook
	err := s.view("list hooks", func(tx *bolt.Tx) error {
		lists := tx.Bucket(bHookLists)
		if lists == nil {
			return nil
		}
		prefix := hookListKey(projectID, groupID, 0)
		prefix = prefix[:len(prefix)-8]
		c := lists.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			h, err := getHook(tx, btoi(k[len(prefix):]))
			if err != nil {
				return err
			}
			out = append(out, h)
		}
		return nil
	})
	return out, err
}

// UpdateHook replaces a stored hook; ErrNotFound when there is none.
func (s *Store) UpdateHook(ctx context.Context, h tokens.Hook) error {
	return s.update("update hook", func(tx *bolt.Tx) error {
		if _, err := getHook(tx, h.ID); err != nil {
			return err
		}
		data, err := json.Marshal(&h)
		if err != nil {
			return err
		}
		return tx.Bucket(bHooks).Put(itob(h.ID), data)
	})
}

// DeleteHook removes a hook; ErrNotFound when there is none.
func (s *Store) DeleteHook(ctx context.Context, id int64) error {
	return s.update("delete hook", func(tx *bolt.Tx) error {
		h, err := getHook(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bHookLists).Delete(hookListKey(h.ProjectID, h.GroupID, id)); err != nil {
			return err
		}
		return tx.Bucket(bHooks).Delete(itob(id))
	})
}

// ClaimDeliveries answers the deliveries due at now, leased for lease.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, max int) ([]tokens.Delivery, error) {
	var out []tokens.Delivery
	err := s.update("claim webhook deliveries", func(tx *bolt.Tx) error {
		bs, err := createBuckets(tx, bDeliveries, bQueue)
		if err != nil {
			return err
		}
		var due []queued
		c := bs[1].Cursor()
		for k, _ := c.First(); k != nil && len(due) < max; k, _ = c.Next() {
			if int64(binary.BigEndian.Uint64(k[:8])) > now.UnixMilli() {
				break
			}
			var q queued
			if data := bs[0].Get(k[8:]); data != nil {
				if err := json.Unmarshal(data, &q); err != nil {
					return err
				}
				due = append(due, q)
			}
		}
		for _, q := range due {
			if err := bs[1].Delete(queueKey(q.Due, q.D.ID)); err != nil {
				return err
			}
			q.D.Attempts++
			q.Due = now.Add(lease).UnixMilli()
			if err := putQueued(bs, q); err != nil {
				return err
			}
			out = append(out, q.D)
		}
		return nil
	})
	return out, err
}

// moveDelivery changes a queued delivery, or removes it (change nil).
func (s *Store) moveDelivery(op string, id int64, change func(*queued)) error {
	return s.update(op, func(tx *bolt.Tx) error {
		bs, err := createBuckets(tx, bDeliveries, bQueue)
		if err != nil {
			return err
		}
		data := bs[0].Get(itob(id))
		if data == nil {
			return notFound("webhook delivery", id)
		}
		var q queued
		if err := json.Unmarshal(data, &q); err != nil {
			return err
		}
		if err := bs[1].Delete(queueKey(q.Due, id)); err != nil {
			return err
		}
		if change == nil {
			return bs[0].Delete(itob(id))
		}
		change(&q)
		return putQueued(bs, q)
	})
}

// RetryDelivery makes a delivery due at at, noting status.
func (s *Store) RetryDelivery(ctx context.Context, id int64, at time.Time, status string) error {
	return s.moveDelivery("retry webhook delivery", id, func(q *queued) {
		q.Due, q.D.LastStatus = at.UnixMilli(), status
	})
}

// FinishDelivery removes a delivery from the queue.
func (s *Store) FinishDelivery(ctx context.Context, id int64) error {
	err := s.moveDelivery("finish webhook delivery", id, nil)
	if errors.Is(err, tokens.ErrNotFound) {
		return nil
	}
	return err
}
