//go:build !linux

package boltstore

// dropCache does nothing here; see cache_linux.go.
func dropCache(path string) error { return nil }
