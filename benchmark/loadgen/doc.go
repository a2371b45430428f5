// Package loadgen is elbguard's benchmark load generator: it opens TCP
// connections that start with a PROXY protocol v1 or v2 header, as a load
// balancer does (wrk cannot), and drives the scenarios of `make bench`
// over them: keep-alive HTTP GETs, connection churn, WebSocket echo round
// trips, WebSocket bulk transfer and idle WebSockets held open.
//
// Every scenario runs a fixed number of workers for a fixed duration and
// returns a Result with counts and sorted latencies; nothing here knows
// which proxy is on the other end.
package loadgen
