package tokens

import (
	"context"
	"time"
)

// DeployTokenList names one list of deploy tokens: a project's (ProjectID),
// a group's (GroupID), or, both 0, every one.
type DeployTokenList struct {
	ProjectID, GroupID int64
}

// ActiveTokenPages answers the active deploy tokens (not revoked, not
// expired) of a list by the page. The stores keep, per list and in the
// same atomic step as the tokens, the IDs of the tokens not revoked and
// not expired at a watermark time, and the expiries of those not revoked;
// a read at now first moves the watermark to now, taking out of the list
// the tokens whose expiry lies between the two (or putting them back,
// should now be earlier), so a page costs the page plus the tokens that
// expired since the list was last read: each expiry is paid for once, not
// on every page.
type ActiveTokenPages interface {
	// PageActiveDeployTokens answers a page of the deploy tokens of list
	// active at now, ordered by ID, and their number.
	PageActiveDeployTokens(ctx context.Context, list DeployTokenList, now time.Time, p Page) ([]DeployToken, int, error)
}
