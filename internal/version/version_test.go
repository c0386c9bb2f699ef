package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want Info
	}{
		{name: "no build info", ok: false, want: Info{Version: "dev", Revision: "unknown", GoVersion: "unknown"}},
		{
			name: "work tree build",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			ok:   true,
			want: Info{Version: "dev", Revision: "unknown", GoVersion: "go1.26.0"},
		},
		{
			name: "released module with revision",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.2"},
				Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123abcd"}}},
			ok:   true,
			want: Info{Version: "v1.4.2", Revision: "0123abcd", GoVersion: "go1.26.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromBuildInfo(tt.bi, tt.ok); got != tt.want {
				t.Errorf("fromBuildInfo = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWithStamp(t *testing.T) {
	built := Info{Version: "dev", Revision: "0123abcd", GoVersion: "go1.26.0"}
	tests := []struct {
		name, stamp, want string
	}{
		{name: "not stamped keeps the module version", stamp: "", want: "dev"},
		{name: "git describe of the checkout", stamp: "v0.3.0-4-g0123abc-dirty", want: "v0.3.0-4-g0123abc-dirty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withStamp(built, tt.stamp)
			if got.Version != tt.want || got.Revision != built.Revision || got.GoVersion != built.GoVersion {
				t.Errorf("withStamp = %+v, want version %q and the rest kept", got, tt.want)
			}
		})
	}
}
