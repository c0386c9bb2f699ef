package main

import (
	"fmt"
	"io"

	"github.com/deploytokens/deploytokens/internal/version"
)

var versionHelp = commandHelp{
	usage: "deploytokens version (or deploytokens --version)",
	about: `Prints the version of this binary: git describe of the checkout it was built
from (make build), the module version (go install ...@version), or "dev";
then the VCS revision and the Go version. The server answers the same at
GET /api/v4/version and in the metric deploytokens_build_info.`,
	exit: exitCommon,
}

func cmdVersion(args []string, stdout io.Writer) error {
	if err := parseFlags(newFlagSet("version"), args, versionHelp, stdout); err != nil {
		return err
	}
	v := version.Get()
	_, err := fmt.Fprintf(stdout, "deploytokens %s (revision %s, %s)\n", v.Version, v.Revision, v.GoVersion)
	return err
}
