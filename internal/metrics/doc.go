// Package metrics builds the server's Prometheus metrics on a registry of
// its own and serves them, with pprof when asked, on a listener apart from
// the server's. It observes the other packages from the outside: an echo
// middleware for requests, a go-redis hook for store round trips, a
// decorator of the registry token signer, and functions over counters the
// packages keep themselves (the replica cache, tokens/cache; the git
// backends). The auth
// package is handed counters to increment.
//
// No label takes a value a client chooses: requests are labelled with the
// route template echo matched, never the path, and with a method from a
// fixed list. It keeps no global state and registers nothing in init.
package metrics
