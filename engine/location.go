package engine

import "github.com/aws/aws-sdk-go-v2/aws"

// location is the account and region an engine's clients act in.
type location struct {
	account, region string
}

// WithLocation stamps every report with the account and region the
// engine's clients act in (Report.Account, Report.Region).
func WithLocation(account, region string) Option {
	return func(e *Engine) { e.loc = location{account: account, region: region} }
}

// stamp sets r's account and region when the engine knows them.
func (l location) stamp(r *Report) {
	if l.account != "" {
		r.Account = l.account
	}
	if l.region != "" {
		r.Region = l.region
	}
}

// remaining names the items a stopped run did not reach, so that a caller
// can resume with Reconcile (Result.Remaining).
func remaining(items []*item) *Targets {
	t := &Targets{}
	for _, it := range items {
		switch {
		case it.report != nil:
		case it.classic != nil:
			t.Classic = append(t.Classic, aws.ToString(it.classic.LoadBalancerName))
		case it.v2 != nil:
			t.LoadBalancers = append(t.LoadBalancers, aws.ToString(it.v2.LoadBalancerArn))
		}
	}
	return t
}
