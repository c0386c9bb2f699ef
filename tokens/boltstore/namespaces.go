package boltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// SetProjectNamespace moves a project into its group in one transaction.
func (s *Store) SetProjectNamespace(ctx context.Context, projectID, groupID int64) error {
	return s.update("set project namespace", func(tx *bolt.Tx) error {
		var p tokens.Project
		if err := mustGet(tx, bProjects, projectID, &p, "project"); err != nil {
			return err
		}
		ns, ok := parentPath(fold(p.PathWithNamespace))
		if !ok || !groupAt(tx, ns, groupID) {
			return notFound("namespace group", groupID)
		}
		if p.NamespaceID == groupID {
			return nil
		}
		if p.NamespaceID != 0 {
			if err := deleteAll(tx, bGroupProjects, pair(p.NamespaceID, projectID)); err != nil {
				return err
			}
		}
		p.NamespaceID = groupID
		if err := put(tx, bProjects, itob(projectID), &p); err != nil {
			return err
		}
		return putKey(tx, bGroupProjects, pair(groupID, projectID))
	})
}
