package migrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/elbguard/elbguard/engine"
)

// Config says how to migrate. The zero value is the default.
type Config struct {
	// NLBName names the NLB; empty: NAME-nlb.
	NLBName string
	// SSLPolicy is the NLB security policy for SSL listeners whose Classic
	// policy has no equivalent (custom, or too old); empty: such a
	// listener holds the migration.
	SSLPolicy string
	// Wait bounds how long a migration waits for every target to be
	// healthy after creating the NLB; zero: 5 minutes.
	Wait time.Duration
	// Poll is the pause between two target health reads; zero: 10 s (or
	// a third of Wait when that is shorter).
	Poll time.Duration
}

// DefaultWait is Config.Wait's default.
const DefaultWait = 5 * time.Minute

func (c Config) nlbName(classic string) string { return cmp.Or(c.NLBName, NLBName(classic)) }

func (c Config) wait() time.Duration { return cmp.Or(c.Wait, DefaultWait) }

func (c Config) poll() time.Duration {
	if c.Poll > 0 {
		return c.Poll
	}
	return min(10*time.Second, max(c.wait()/3, 100*time.Millisecond))
}

// Migrator plans and applies migrations of Classic load balancers.
type Migrator struct {
	c   Clients
	cfg Config
	log *slog.Logger
}

// New returns a Migrator; Classic and V2 are required. A nil logger
// discards logs.
func New(c Clients, cfg Config, log *slog.Logger) (*Migrator, error) {
	if c.Classic == nil || c.V2 == nil {
		return nil, errors.New("migrate: the Classic and ELBv2 clients are required")
	}
	if cfg.NLBName != "" {
		if err := checkName(cfg.NLBName); err != nil {
			return nil, fmt.Errorf("migrate: --nlb-name: %w", err)
		}
	}
	if cfg.Wait < 0 {
		return nil, fmt.Errorf("migrate: --wait %s: want a positive duration", cfg.Wait)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Migrator{c: c, cfg: cfg, log: log}, nil
}

// Plan reads the Classic load balancer name and plans its migration. When
// the NLB exists already (a rerun), the result reports its state and has
// no calls. Errors are API errors; what holds the migration is a finding.
func (m *Migrator) Plan(ctx context.Context, name string) (*Result, error) {
	res := &Result{Operation: OpMigrate, Classic: name, Status: StatusPlanned}
	s, err := readSource(ctx, m.c.Classic, name)
	if errors.Is(err, ErrNotFound) {
		res.Status = engine.StatusNotFound
		res.find(engine.RuleNotFound, "no Classic load balancer %s", name)
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := m.readState(ctx, name, m.cfg.nlbName(name))
	if err != nil {
		return nil, err
	}
	if st.foreign {
		res.NLB.Name = m.cfg.nlbName(name)
		res.hold(RuleNameTaken, "a load balancer named %s exists and does not carry %s=%s: it is not this migration's; choose another with --nlb-name", res.NLB.Name, TagMigratedFrom, name)
		res.Status = engine.StatusHeld
		return res, nil
	}
	translate(s, m.cfg, res)
	if st.nlb != nil { // a rerun: report, change nothing
		return m.rerun(ctx, s, st, res)
	}
	if !res.held {
		if err := m.gates(ctx, s, res); err != nil {
			return nil, err
		}
		if err := m.nameRecords(ctx, s, res); err != nil {
			return nil, err
		}
	}
	if res.held {
		res.Status = engine.StatusHeld
	}
	return res, nil
}

// gates holds the plan when a certificate cannot be used or the instances
// are not ready for PROXY protocol v2.
func (m *Migrator) gates(ctx context.Context, s *Source, res *Result) error {
	for _, l := range res.Listeners {
		if l.Certificate == "" {
			continue
		}
		problem, err := engine.CheckCertificate(ctx, m.c.IAM, m.c.ACM, l.Certificate)
		if err != nil {
			return fmt.Errorf("check the certificate of listener %d: %w", l.Port, err)
		}
		if problem != nil {
			res.hold(RuleCertificateMissing, "listener %d: %v; the TLS listener cannot be created", l.Port, problem)
		}
	}
	v2 := slices.ContainsFunc(res.TargetGroups, func(tg TargetGroup) bool { return tg.ProxyProtocolV2 })
	ids := s.instances()
	if !v2 || len(ids) == 0 {
		return nil
	}
	skip, invalid := engine.ReadinessSkip(s.Tags)
	switch {
	case invalid != nil:
		res.hold(invalid.Rule, "%s", invalid.Detail)
		return nil
	case skip:
		return nil
	case m.c.EC2 == nil:
		res.hold(RuleBackendsNotReady, "no EC2 client to read %s of the instances; nothing is created", engine.TagProxyReady)
		return nil
	}
	ready, findings, err := engine.ReadyInstances(ctx, m.c.EC2, ids)
	if err != nil {
		return fmt.Errorf("read readiness of the instances of %s: %w", aws.ToString(s.LB.LoadBalancerName), err)
	}
	res.Findings = append(res.Findings, findings...)
	var not []string
	for _, id := range ids {
		if !ready[id] {
			not = append(not, id)
		}
	}
	if len(not) > 0 {
		res.hold(RuleBackendsNotReady, "%d of %d registered instances lack %s=true: %s. The NLB sends PROXY protocol v2, a different header from the Classic ELB's v1: the server on each instance must read both (elbguard-proxy does, on one port; so do nginx proxy_protocol and HAProxy accept-proxy) and say so with the tag; nothing is created until then",
			len(not), len(ids), engine.TagProxyReady, strings.Join(not, ", "))
	}
	return nil
}

// Apply makes the planned calls, in order, stopping at the first failure,
// then waits (Config.Wait) until every target is healthy. A result that is
// not planned (held, a rerun, a dry run's) is returned as it is.
func (m *Migrator) Apply(ctx context.Context, res *Result) {
	if res.Status != StatusPlanned {
		return
	}
	if !m.run(ctx, res) {
		if res.Operation == OpMigrate {
			res.find(RuleIncomplete, "the migration stopped after a failure; run `elbguard migrate --undo %s` to remove what was created", res.Classic)
		}
		return
	}
	switch res.Operation {
	case OpMigrate:
		res.Status = StatusMigrated
		m.waitHealthy(ctx, res)
	case OpShift:
		res.Status = StatusShifted
	case OpUndo:
		res.Status = StatusUndone
	}
}

// run makes the calls; false after a failure (status error).
func (m *Migrator) run(ctx context.Context, res *Result) bool {
	refs := map[string]string{}
	for i, c := range res.Calls {
		err := m.exec(ctx, c, refs, res)
		if err == nil {
			c.Status = CallApplied
			continue
		}
		c.Status, c.Error = CallFailed, err.Error()
		for _, rest := range res.Calls[i+1:] {
			rest.Status = CallNotAttempted
		}
		res.Status = engine.StatusError
		res.find(RuleAPIError, "%s: %v", c.API, err)
		return false
	}
	return true
}

// waitHealthy polls the target groups' health until every target is
// healthy or Config.Wait passes (status error: a failed migration).
func (m *Migrator) waitHealthy(ctx context.Context, res *Result) {
	deadline := time.Now().Add(m.cfg.wait())
	for {
		bad, err := m.readHealth(ctx, res)
		switch {
		case err != nil:
			res.Status = engine.StatusError
			res.find(RuleAPIError, "%v", err)
			return
		case len(bad) == 0:
			return
		case time.Now().Add(m.cfg.poll()).After(deadline) || ctx.Err() != nil:
			res.Status = engine.StatusError
			res.find(RuleTargetsUnhealthy, "after %s not every target is healthy through the NLB's own health checks (which carry the PROXY v2 header): %s. This migration failed; run `elbguard migrate --undo %s` to remove it (the Classic load balancer was not changed)",
				m.cfg.wait(), strings.Join(bad, "; "), res.Classic)
			return
		}
		t := time.NewTimer(m.cfg.poll())
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// readHealth reads every target group's target health into res and lists
// the targets that are not healthy.
func (m *Migrator) readHealth(ctx context.Context, res *Result) (bad []string, err error) {
	for i := range res.TargetGroups {
		tg := &res.TargetGroups[i]
		if tg.ARN == "" {
			continue
		}
		out, err := m.c.V2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg.ARN)})
		if err != nil {
			return nil, fmt.Errorf("describe target health of %s: %w", tg.Name, err)
		}
		tg.Targets = tg.Targets[:0]
		for _, d := range out.TargetHealthDescriptions {
			t := Target{ID: aws.ToString(d.Target.Id), Port: aws.ToInt32(d.Target.Port)}
			if h := d.TargetHealth; h != nil {
				t.State, t.Reason = string(h.State), string(h.Reason)
			}
			tg.Targets = append(tg.Targets, t)
			if t.State != string(v2types.TargetHealthStateEnumHealthy) {
				bad = append(bad, fmt.Sprintf("%s %s:%d %s", tg.Name, t.ID, t.Port, strings.TrimSpace(t.State+" "+t.Reason)))
			}
		}
		slices.SortFunc(tg.Targets, func(a, b Target) int { return strings.Compare(a.ID, b.ID) })
	}
	return bad, nil
}
