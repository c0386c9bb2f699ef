package boltstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropCache asks the kernel to drop the clean pages of the file at path
// from the page cache; pages a process has mapped stay.
//
// A bulk load writes its whole file through the page cache, and bolt reads
// through a shared mapping of that file. On a read fault the kernel also
// maps every page already cached within 64 KB around the faulting one
// (fault-around; bolt's MADV_RANDOM does not turn it off), so the next
// process to open the file, the server, would get most of it mapped into
// its resident set while looking up a few thousand records spread over it:
// 700 MB of RSS at a million deploy tokens, where the pages it reads are
// about 100 MB. Dropped, the file is read back a page per fault, as after a
// reboot, and the server's RSS follows what it reads.
func dropCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
