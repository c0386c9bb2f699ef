package redisstore

import (
	"context"
	"fmt"

	"github.com/deploytokens/deploytokens/tokens"
)

// BulkProjects creates projects as CreateProject does, with the same
// script, owned by owner, a thousand scripts to a pipeline (one round
// trip each, not one per project), for tests of large stores.
func (s *Store) BulkProjects(ctx context.Context, owner tokens.User, ps []tokens.Project) error {
	last, err := s.c.IncrBy(ctx, s.key("n", "project"), int64(len(ps))).Result()
	if err != nil {
		return err
	}
	if err := createProjectScript.Load(ctx, s.c).Err(); err != nil {
		return err
	}
	mv, err := encodeMember(&tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner})
	if err != nil {
		return err
	}
	first := last - int64(len(ps)) + 1
	for start := 0; start < len(ps); start += batch {
		pipe := s.c.Pipeline()
		for i := start; i < min(start+batch, len(ps)); i++ {
			p := &ps[i]
			p.ID = first + int64(i)
			f, err := encodeProject(p)
			if err != nil {
				return err
			}
			keys, args := s.createProjectArgs(p.PathWithNamespace, p.Visibility, p.NamespaceID, p.ID, owner.ID, mv, f)
			pipe.EvalSha(ctx, createProjectScript.Hash(), keys, args...)
		}
		cmds, err := pipe.Exec(ctx)
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if n, _ := c.(interface{ Int64() (int64, error) }).Int64(); n != 1 {
				return fmt.Errorf("bulk projects: %v: status %d", c.Args(), n)
			}
		}
	}
	return nil
}

// BulkDeployTokens creates deploy tokens as CreateDeployToken does, with
// the same script, a thousand to a pipeline.
func (s *Store) BulkDeployTokens(ctx context.Context, ts []tokens.DeployToken) error {
	last, err := s.c.IncrBy(ctx, s.key("n", "token"), int64(len(ts))).Result()
	if err != nil {
		return err
	}
	if err := createDeployTokenScript.Load(ctx, s.c).Err(); err != nil {
		return err
	}
	first := last - int64(len(ts)) + 1
	for start := 0; start < len(ts); start += batch {
		pipe := s.c.Pipeline()
		for i := start; i < min(start+batch, len(ts)); i++ {
			t := &ts[i]
			t.ID = first + int64(i)
			if t.Username == "" {
				t.Username = tokens.DefaultDeployTokenUsername(t.ID)
			}
			f, err := encodeDeployToken(t)
			if err != nil {
				return err
			}
			keys, args := s.createDeployTokenArgs(t, f)
			pipe.EvalSha(ctx, createDeployTokenScript.Hash(), keys, args...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}
