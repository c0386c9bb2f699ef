// Package version says which build of deploytokens is running, from the
// build information the Go toolchain records in the binary. The metrics
// and the API's /version both answer from here, so they never disagree.
package version

import (
	"runtime/debug"
	"sync"
)

// Info describes the running build.
type Info struct {
	// Version is the module version, or "dev" for a build from a work
	// tree (go build, go test), which has none.
	Version string
	// Revision is the VCS revision, or "unknown" when the build did not
	// record one.
	Revision string
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// stamped is set by the Makefile's build (-ldflags -X) to `git describe`
// of the checkout: a work tree's build records no module version, and its
// vcs.revision alone does not say which release it is near.
var stamped string

// Get answers the running build's Info; it reads the build information
// once.
var Get = sync.OnceValue(func() Info { return withStamp(fromBuildInfo(debug.ReadBuildInfo()), stamped) })

// withStamp answers info with the version stamped at link time, when there
// is one: the build knew its checkout better than the toolchain did.
func withStamp(info Info, stamp string) Info {
	if stamp != "" {
		info.Version = stamp
	}
	return info
}

func fromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	info := Info{Version: "dev", Revision: "unknown", GoVersion: "unknown"}
	if !ok {
		return info
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		info.Version = v
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			info.Revision = s.Value
		}
	}
	return info
}
