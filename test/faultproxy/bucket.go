package faultproxy

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// FaultBucket is the Stats fault name of a request throttled by an emulated
// token bucket (SetBuckets).
const FaultBucket = "bucket"

// Bucket is one emulated AWS API token bucket: it starts full, holds at most
// Capacity tokens, and gains Refill tokens per second.
type Bucket struct {
	Capacity float64
	Refill   float64
}

// Buckets emulates AWS's request-rate throttling of the ELB APIs: a bucket
// per caller (the access key id of the request's SigV4 credential scope,
// which is one per account for assumed roles), region, API version, and
// call class (Read for Describe*, Get* and List*; Mutate for the rest).
// Each request takes a token; a request that finds its bucket empty is
// answered HTTP 400 Throttling "Rate exceeded", as AWS answers.
type Buckets struct {
	Read, Mutate Bucket
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// Validate reports a bucket that could never admit a request.
func (b *Buckets) Validate() error {
	for _, x := range []struct {
		name string
		b    Bucket
	}{{"Read", b.Read}, {"Mutate", b.Mutate}} {
		if x.b.Capacity < 1 || x.b.Refill <= 0 {
			return fmt.Errorf("faultproxy: %s bucket %+v; want Capacity at least 1 and Refill above 0", x.name, x.b)
		}
	}
	return nil
}

// bucketState is one bucket's tokens at a time.
type bucketState struct {
	tokens float64
	at     time.Time
}

// buckets holds the state of every emulated bucket.
type buckets struct {
	cfg   Buckets
	mu    sync.Mutex
	state map[string]*bucketState
}

// take spends a token from the bucket of key, refilled to now; false when
// it is empty.
func (b *buckets) take(key string, mutate bool) bool {
	spec := b.cfg.Read
	if mutate {
		spec = b.cfg.Mutate
	}
	now := time.Now()
	if b.cfg.Now != nil {
		now = b.cfg.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state[key]
	if s == nil {
		s = &bucketState{tokens: spec.Capacity, at: now}
		b.state[key] = s
	}
	s.tokens = min(spec.Capacity, s.tokens+now.Sub(s.at).Seconds()*spec.Refill)
	s.at = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// SetBuckets turns on token-bucket emulation with b (nil turns it off); the
// buckets start full. Rules are consulted first; a request a rule faults
// takes no token.
func (p *Proxy) SetBuckets(b *Buckets) error {
	var bs *buckets
	if b != nil {
		if err := b.Validate(); err != nil {
			return err
		}
		bs = &buckets{cfg: *b, state: map[string]*bucketState{}}
	}
	p.mu.Lock()
	p.buckets = bs
	p.mu.Unlock()
	return nil
}

// bucketKey is caller/region/version/class of a request, from its SigV4
// Authorization header ("... Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...").
func bucketKey(r *http.Request, version, action string) (key string, mutate bool) {
	caller, region := "anonymous", "-"
	auth := r.Header.Get("Authorization")
	if _, cred, ok := strings.Cut(auth, "Credential="); ok {
		cred, _, _ = strings.Cut(cred, ",")
		parts := strings.Split(cred, "/")
		if len(parts) >= 3 {
			caller, region = parts[0], parts[2]
		}
	}
	mutate = IsMutating(action)
	class := "read"
	if mutate {
		class = "mutate"
	}
	return caller + "/" + region + "/" + version + "/" + class, mutate
}
