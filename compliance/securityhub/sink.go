package securityhub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
)

// BatchSize is the most findings one BatchImportFindings call accepts.
const BatchSize = 100

// DefaultAttempts bounds how often a finding is sent when Sink.Attempts is
// zero: the first call and two retries of the findings that failed.
const DefaultAttempts = 3

// ImportAPI is the one Security Hub call the sink makes.
type ImportAPI interface {
	BatchImportFindings(ctx context.Context, in *securityhub.BatchImportFindingsInput, optFns ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error)
}

// Clients hands out the Security Hub client of an account and region. With
// the default product ARN, Security Hub accepts a finding only from the
// account its AwsAccountId names, in the finding's region, so each
// location's findings need that location's client (an assumed role in a
// spoke account).
type Clients interface {
	SecurityHub(ctx context.Context, account, region string) (ImportAPI, error)
}

// Sink imports each run's findings into Security Hub.
type Sink struct {
	// Client makes the calls of the caller's own location: reports without
	// an account (located by Locator), and every report when Clients is
	// nil; required.
	Client ImportAPI
	// Clients, when set, gives the client of every report that names its
	// account (a multi-account or multi-region run). A location whose
	// client cannot be had counts its findings as failed; the other
	// locations are still imported. Nil: Client imports everything.
	Clients Clients
	// Locator gives each report's account and region; required.
	Locator *compliance.Locator
	// Attempts bounds the sends of a finding that keeps failing. Zero:
	// DefaultAttempts. Failed calls are already retried by the SDK.
	Attempts int
	// Backoff is the pause before a retry, doubled each time. Zero: 200ms.
	Backoff time.Duration
	// Log receives one line per retry and per finding given up on. Nil: discard.
	Log *slog.Logger
	// Now stamps the findings. Nil: time.Now.
	Now func() time.Time
}

// Name implements compliance.Sink.
func (s *Sink) Name() string { return "securityhub" }

// Publish implements compliance.Sink: it maps every report and imports the
// findings in batches of at most BatchSize, retrying failed findings a
// bounded number of times.
func (s *Sink) Publish(ctx context.Context, res *engine.Result, t compliance.Trigger) (compliance.Stats, error) {
	var st compliance.Stats
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	groups := map[location][]types.AwsSecurityFinding{}
	var errs []error
	for _, r := range res.Reports {
		account, region, err := s.Locator.Locate(ctx, r)
		if err != nil {
			errs = append(errs, err)
			st.Failed++
			continue
		}
		// A report that names its account is imported with that account's
		// client; one located by Locator is the caller's own.
		loc := location{own: r.Account == "" || s.Clients == nil}
		if !loc.own {
			loc.account, loc.region = account, region
		}
		groups[loc] = append(groups[loc], Findings(r, Context{Account: account, Region: region, Now: now(), Sweep: t.Sweep()})...)
	}
	for _, loc := range slices.SortedFunc(maps.Keys(groups), location.compare) {
		client, err := s.client(ctx, loc)
		if err != nil {
			st.Failed += len(groups[loc])
			s.logger().ErrorContext(ctx, "security hub: no client for the location; findings given up",
				"account", loc.account, "region", loc.region, "findings", len(groups[loc]), "error", err.Error())
			errs = append(errs, fmt.Errorf("security hub client of %s in %s: %w", loc.account, loc.region, err))
			continue
		}
		fs := groups[loc]
		if reader, ok := client.(FindAPI); ok {
			have, err := existing(ctx, reader, fs)
			if err != nil {
				// Imported as mapped: CreatedAt is this run's, and archives
				// are sent whether or not their finding exists.
				s.logger().WarnContext(ctx, "security hub: cannot read the existing findings", "account", loc.account, "region", loc.region, "error", err.Error())
			} else {
				fs = reconcile(fs, have)
			}
		}
		for batch := range slices.Chunk(fs, BatchSize) {
			if err := s.importBatch(ctx, client, batch, &st); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return st, fmt.Errorf("import %d of %d findings into Security Hub failed: %w", st.Failed, st.Failed+st.Sent, err)
	}
	return st, nil
}

// location is where a group of findings is imported: the caller's own
// (Client), or an account and region (Clients).
type location struct {
	own             bool
	account, region string
}

func (a location) compare(b location) int {
	if a.own != b.own {
		if a.own {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.region, b.region))
}

// client returns the client that imports loc's findings.
func (s *Sink) client(ctx context.Context, loc location) (ImportAPI, error) {
	if loc.own {
		return s.Client, nil
	}
	c, err := s.Clients.SecurityHub(ctx, loc.account, loc.region)
	if err == nil && c == nil {
		err = errors.New("no client")
	}
	return c, err
}

func (s *Sink) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// importBatch sends one batch, then the findings that failed again, up to
// Attempts sends in all. A call that fails as a whole is not retried here:
// the SDK has already retried it.
func (s *Sink) importBatch(ctx context.Context, client ImportAPI, batch []types.AwsSecurityFinding, st *compliance.Stats) error {
	log := s.logger()
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	backoff := s.Backoff
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	pending := batch
	var last error
	for attempt := 1; ; attempt++ {
		st.Calls++
		out, err := client.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: pending})
		if err != nil {
			// The SDK's retryer has already retried throttling and 5xx;
			// denied or unavailable stays so within one run.
			st.Failed += len(pending)
			log.ErrorContext(ctx, "security hub: call failed; findings given up", "findings", len(pending), "error", err.Error())
			return fmt.Errorf("BatchImportFindings (%d findings): %w", len(pending), err)
		}
		{
			sent := len(pending) - len(out.FailedFindings)
			st.Sent += sent
			if len(out.FailedFindings) == 0 {
				return nil
			}
			failed := map[string]types.ImportFindingsError{}
			for _, f := range out.FailedFindings {
				failed[aws.ToString(f.Id)] = f
			}
			first := out.FailedFindings[0]
			last = fmt.Errorf("BatchImportFindings (attempt %d): %d findings failed, first %s: %s: %s", attempt,
				len(out.FailedFindings), aws.ToString(first.Id), aws.ToString(first.ErrorCode), aws.ToString(first.ErrorMessage))
			pending = slices.DeleteFunc(slices.Clone(pending), func(f types.AwsSecurityFinding) bool {
				_, bad := failed[aws.ToString(f.Id)]
				return !bad
			})
		}
		if attempt >= attempts || ctx.Err() != nil {
			st.Failed += len(pending)
			log.ErrorContext(ctx, "security hub: findings given up", "findings", len(pending), "attempts", attempt, "error", last.Error())
			return last
		}
		log.WarnContext(ctx, "security hub: retrying findings", "findings", len(pending), "attempt", attempt, "error", last.Error())
		select {
		case <-ctx.Done():
			st.Failed += len(pending)
			return fmt.Errorf("%w (then: %w)", last, ctx.Err())
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}
