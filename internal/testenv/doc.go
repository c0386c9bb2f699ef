// Package testenv starts the real external components tests need (such as
// redis-server) on free 127.0.0.1 ports with temporary directories, and
// stops them when the test ends. It holds no imitations of those
// components, and production code must not import it.
package testenv
