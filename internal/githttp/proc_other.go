//go:build !unix

package githttp

import "os/exec"

// ownProcessGroup leaves exec's default cancellation, which kills only the
// backend itself.
func ownProcessGroup(*exec.Cmd) {}
