//go:build unix

package githttp

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// ownProcessGroup puts the backend into a process group of its own and
// makes cancellation kill the whole group: http-backend runs upload-pack or
// receive-pack, which may run pack-objects, and killing only the first
// would leave the others working for a client that is gone.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}
