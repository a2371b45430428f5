package compliance

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elbguard/elbguard/engine"
)

// CallerIdentityAPI is the STS call a Locator makes, once, to learn the
// account of single-account runs.
type CallerIdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Locator says in which account and region a report's load balancer lives:
// the report's own Account and Region when the engine set them (multi-account
// runs), else the caller's account (sts:GetCallerIdentity, asked once and
// remembered) and the client's region.
type Locator struct {
	// Region is the clients' region, used when a report has none.
	Region string
	// STS answers GetCallerIdentity when a report has no account. Nil: such
	// reports cannot be located.
	STS CallerIdentityAPI
	// Account, when set, is used instead of asking STS.
	Account string

	mu sync.Mutex
}

// ErrNoAccount is returned when neither the report nor STS says the account.
var ErrNoAccount = errors.New("compliance: account unknown")

// Locate returns the account and region of r.
func (l *Locator) Locate(ctx context.Context, r engine.Report) (account, region string, err error) {
	account, region = r.Account, r.Region
	if region == "" {
		region = l.Region
	}
	if account != "" {
		return account, region, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Account == "" {
		if l.STS == nil {
			return "", region, fmt.Errorf("locate %s: %w: the report has none and no STS client was given", r.Name, ErrNoAccount)
		}
		out, err := l.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", region, fmt.Errorf("locate %s: sts:GetCallerIdentity: %w", r.Name, err)
		}
		l.Account = aws.ToString(out.Account)
	}
	return l.Account, region, nil
}
