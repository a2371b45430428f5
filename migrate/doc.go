// Package migrate moves a Classic Load Balancer's traffic to a Network Load
// Balancer with proxy protocol v2, planned, proven and reversible: it reads
// the Classic ELB (and never changes it), translates its listeners, back-end
// policies, health check and attributes into the exact ELBv2 calls that
// create the NLB beside it, holds the plan until the instances are ready for
// PROXY v2 and the certificates exist, applies exactly that plan, waits for
// every target to be healthy, shifts Route 53 alias records by weight, and
// undoes all of it (only what carries elbguard:migrated-from).
//
// The listener, policy, certificate and readiness rules are the engine's
// (package engine); this package only translates.
package migrate
