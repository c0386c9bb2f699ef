// Package httpreq reads what every HTTP surface reads the same way: a
// body's declared type and encoding, repeated parameters, the query
// string. Its refusals are *httperr.Error (or a domain validation error
// naming the parameter), so each surface renders them in its own format.
package httpreq
