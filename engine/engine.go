// Package engine is elbguard's engine: it reads each load balancer's desired
// state from its tags and brings Classic Load Balancers and Network Load
// Balancers to proxy protocol on TCP/SSL listeners, or reports how far they are.
//
// The engine depends on small interfaces (ClassicAPI, V2API) that the SDK
// clients satisfy, so the Lambdas and the CLI pass real clients and tests pass
// a hand-written fake.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// tagBatch is the most names or ARNs one DescribeTags call accepts.
const tagBatch = 20

// pageSize is the largest page DescribeLoadBalancers returns.
const pageSize = 400

// Engine reconciles load balancers. It is safe for concurrent use.
type Engine struct {
	classic ClassicAPI
	v2      V2API
	cfg     Config
	log     *slog.Logger

	now   func() time.Time // WithClock; nil: time.Now
	certs certificates     // WithCertificates; see certs.go
	// instances reads EC2 instance tags for the readiness gate (WithInstances).
	instances InstancesAPI
	// verifier queues the delayed health check after a change (WithVerifier).
	verifier Scheduler
	loc      location // account and region stamped on reports (WithLocation)
	// restore signs and verifies restore records (WithRestoreKey); nil:
	// records are written unsigned and none is acted on.
	restore *restoreKey
	// approved, when set (WithPlan), is the plan a person approved: the
	// calls each load balancer may be changed with (plan.go).
	approved map[string][]Action
}

// Option gives the Engine an optional dependency (more AWS APIs it reads
// through) before first use.
type Option func(*Engine)

// New returns an Engine after validating cfg. A nil logger discards logs.
func New(classic ClassicAPI, v2 V2API, cfg Config, log *slog.Logger, opts ...Option) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if classic == nil || v2 == nil {
		return nil, fmt.Errorf("%w: both ELB clients are required", ErrConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{classic: classic, v2: v2, cfg: cfg.WithDefaults(), log: log}
	for _, o := range opts {
		o(e)
	}
	if e.restore != nil && len(e.restore.key) < MinRestoreKeyBytes {
		return nil, fmt.Errorf("%w: restore key of %d bytes; want at least %d", ErrConfig, len(e.restore.key), MinRestoreKeyBytes)
	}
	return e, nil
}

// Config returns the engine's configuration with defaults applied.
func (e *Engine) Config() Config { return e.cfg }

// Targets names load balancers to reconcile.
type Targets struct {
	// Classic lists Classic Load Balancer names.
	Classic []string
	// LoadBalancers lists ELBv2 load balancer ARNs.
	LoadBalancers []string
	// TargetGroups lists target group ARNs; their load balancers are reconciled.
	TargetGroups []string
	// Names lists load balancer names of either kind (Classic or ELBv2); a
	// name that exists as both is reconciled as both.
	Names []string
}

// item is one load balancer to handle, with its description and tags.
type item struct {
	classic *elbtypes.LoadBalancerDescription
	v2      *v2types.LoadBalancer
	tags    map[string]string
	report  *Report // set when the outcome is known before any work (gone, tag read error)
}

// Sweep reconciles every Classic and ELBv2 load balancer in the region. It
// returns an error only when the load balancers cannot be listed at all.
func (e *Engine) Sweep(ctx context.Context) (*Result, error) {
	var items []*item
	p := elb.NewDescribeLoadBalancersPaginator(e.classic,
		&elb.DescribeLoadBalancersInput{PageSize: aws.Int32(pageSize)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list Classic load balancers: %w", err)
		}
		for i := range page.LoadBalancerDescriptions {
			items = append(items, &item{classic: &page.LoadBalancerDescriptions[i]})
		}
	}
	p2 := elbv2.NewDescribeLoadBalancersPaginator(e.v2, &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(pageSize)})
	for p2.HasMorePages() {
		page, err := p2.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list ELBv2 load balancers: %w", err)
		}
		for i := range page.LoadBalancers {
			items = append(items, &item{v2: &page.LoadBalancers[i]})
		}
	}
	return e.run(ctx, items), nil
}

// Reconcile handles the named load balancers only. Names and ARNs that no
// longer exist are reported as gone. It returns an error only when the
// targets cannot be described at all.
func (e *Engine) Reconcile(ctx context.Context, t Targets) (*Result, error) {
	var items []*item
	for batch := range slices.Chunk(dedupe(t.Classic), tagBatch) {
		got, err := e.describeClassic(ctx, batch)
		if err != nil {
			return nil, err
		}
		items = append(items, got...)
	}
	arns := dedupe(t.LoadBalancers)
	var namedARNs []string // ELBv2 ARNs already described by name
	for _, n := range dedupe(t.Names) {
		got, err := e.describeClassic(ctx, []string{n})
		if err != nil {
			return nil, err
		}
		found := got[0].report == nil
		if found {
			items = append(items, got...)
		}
		out, err := e.v2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{n}})
		switch {
		case err == nil:
			for i := range out.LoadBalancers {
				namedARNs = append(namedARNs, aws.ToString(out.LoadBalancers[i].LoadBalancerArn))
				items = append(items, &item{v2: &out.LoadBalancers[i]})
				found = true
			}
		case !isGone(err):
			return nil, fmt.Errorf("describe ELBv2 load balancer %s: %w", n, err)
		}
		if !found {
			r := &Report{Name: n, Type: TypeClassic, Status: StatusGone}
			r.find(RuleNotFound, "no Classic or ELBv2 load balancer named %q", n)
			items = append(items, &item{report: r})
		}
	}
	for _, tg := range dedupe(t.TargetGroups) {
		out, err := e.v2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{tg}})
		var nf *v2types.TargetGroupNotFoundException
		switch {
		case errors.As(err, &nf):
			e.log.InfoContext(ctx, "target group gone", "target_group", tg)
			continue
		case err != nil:
			return nil, fmt.Errorf("describe target group %s: %w", tg, err)
		}
		for _, g := range out.TargetGroups {
			arns = append(arns, g.LoadBalancerArns...)
		}
	}
	// A load balancer described by name is not described again by ARN.
	arns = slices.DeleteFunc(dedupe(arns), func(a string) bool { return slices.Contains(namedARNs, a) })
	for batch := range slices.Chunk(arns, tagBatch) {
		got, err := e.describeV2(ctx, batch)
		if err != nil {
			return nil, err
		}
		items = append(items, got...)
	}
	return e.run(ctx, items), nil
}

// describeClassic describes names, one by one when some are missing so that
// each missing one is reported as gone.
func (e *Engine) describeClassic(ctx context.Context, names []string) ([]*item, error) {
	out, err := e.classic.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: names})
	if err == nil {
		items := make([]*item, 0, len(out.LoadBalancerDescriptions))
		for i := range out.LoadBalancerDescriptions {
			items = append(items, &item{classic: &out.LoadBalancerDescriptions[i]})
		}
		return items, nil
	}
	if !isGone(err) {
		return nil, fmt.Errorf("describe Classic load balancers %v: %w", names, err)
	}
	if len(names) == 1 {
		return []*item{{report: &Report{Name: names[0], Type: TypeClassic, Status: StatusGone}}}, nil
	}
	var items []*item
	for _, n := range names {
		got, err := e.describeClassic(ctx, []string{n})
		if err != nil {
			return nil, err
		}
		items = append(items, got...)
	}
	return items, nil
}

// describeV2 is describeClassic for ELBv2 ARNs.
func (e *Engine) describeV2(ctx context.Context, arns []string) ([]*item, error) {
	out, err := e.v2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: arns})
	if err == nil {
		items := make([]*item, 0, len(out.LoadBalancers))
		for i := range out.LoadBalancers {
			items = append(items, &item{v2: &out.LoadBalancers[i]})
		}
		return items, nil
	}
	if !isGone(err) {
		return nil, fmt.Errorf("describe ELBv2 load balancers %v: %w", arns, err)
	}
	if len(arns) == 1 {
		return []*item{{report: &Report{Name: nameFromARN(arns[0]), ARN: arns[0], Type: typeFromARN(arns[0]), Status: StatusGone}}}, nil
	}
	var items []*item
	for _, a := range arns {
		got, err := e.describeV2(ctx, []string{a})
		if err != nil {
			return nil, err
		}
		items = append(items, got...)
	}
	return items, nil
}

// run reads tags in batches, then handles every item with bounded
// concurrency, stopping StopBefore ahead of the context deadline.
func (e *Engine) run(ctx context.Context, items []*item) *Result {
	ctx = withBudget(ctx, newBudget(e.cfg))
	e.readTags(ctx, items)
	res := &Result{Found: len(items), Counts: map[Status]int{}}
	reports := make([]*Report, len(items))
	stopAt := time.Time{}
	if dl, ok := ctx.Deadline(); ok {
		stopAt = dl.Add(-e.cfg.StopBefore)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, e.cfg.Concurrency)
	for i, it := range items {
		if it.report != nil {
			reports[i] = it.report
			continue
		}
		if ctx.Err() != nil || (!stopAt.IsZero() && time.Now().After(stopAt)) {
			res.Incomplete = true
			res.Remaining = remaining(items[i:])
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := e.handle(ctx, it)
			reports[i] = &r
		}()
	}
	wg.Wait()
	for _, r := range reports {
		if r == nil {
			continue
		}
		if r.Findings == nil {
			r.Findings = []Finding{}
		}
		if r.Actions == nil {
			r.Actions = []Action{}
		}
		e.loc.stamp(r)
		res.Reports = append(res.Reports, *r)
		res.Counts[r.Status]++
	}
	res.Processed = len(res.Reports)
	slices.SortFunc(res.Reports, func(a, b Report) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ARN, b.ARN))
	})
	return res
}

// handle dispatches one item by type.
func (e *Engine) handle(ctx context.Context, it *item) Report {
	var r Report
	if it.classic != nil {
		r = e.classicReport(ctx, it.classic, it.tags)
	} else {
		r = e.v2Report(ctx, it.v2, it.tags)
	}
	e.log.DebugContext(ctx, "load balancer handled", "name", r.Name, "type", r.Type, "mode", r.Mode, "status", r.Status)
	return r
}

// mode reads the mode tag into r. It reports true when the load balancer
// needs no more work: an invalid tag (status error) or mode off (skipped).
func (e *Engine) mode(r *Report, tags map[string]string) (done bool) {
	r.Mode = e.cfg.DefaultMode
	if v, ok := tags[e.cfg.TagKey]; ok {
		m, err := ParseMode(v)
		if err != nil {
			r.Mode = Mode(v)
			r.Status = StatusError
			r.find(RuleInvalidTag, "invalid tag value %q for %s; want enforce, audit or off", v, e.cfg.TagKey)
			return true
		}
		r.Mode = m
	}
	if r.Mode == ModeOff {
		r.Status = StatusSkipped
		return true
	}
	return false
}

// idleTimeout reads the idle-timeout tag: 0 when absent; done (status error)
// when it is not whole seconds within [minIdle, maxIdle].
func (e *Engine) idleTimeout(r *Report, tags map[string]string, minIdle, maxIdle int) (idle int, done bool) {
	v, ok := tags[e.cfg.IdleTimeoutTagKey]
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < minIdle || n > maxIdle {
		r.Status = StatusError
		r.find(RuleInvalidIdleTimeout, "invalid idle timeout %q for %s; want whole seconds from %d to %d", v, e.cfg.IdleTimeoutTagKey, minIdle, maxIdle)
		return 0, true
	}
	return n, false
}

// readTags fills item.tags with DescribeTags calls of up to 20 resources,
// running batches with the engine's concurrency.
func (e *Engine) readTags(ctx context.Context, items []*item) {
	var classic, v2 []*item
	for _, it := range items {
		switch {
		case it.report != nil:
		case it.classic != nil:
			classic = append(classic, it)
		case it.v2 != nil:
			v2 = append(v2, it)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, e.cfg.Concurrency)
	for batch := range slices.Chunk(classic, tagBatch) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			e.classicTags(ctx, batch)
		})
	}
	for batch := range slices.Chunk(v2, tagBatch) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			e.v2Tags(ctx, batch)
		})
	}
	wg.Wait()
}

func (e *Engine) classicTags(ctx context.Context, batch []*item) {
	names := make([]string, len(batch))
	for i, it := range batch {
		names[i] = aws.ToString(it.classic.LoadBalancerName)
	}
	out, err := e.classic.DescribeTags(ctx, &elb.DescribeTagsInput{LoadBalancerNames: names})
	if err != nil {
		if isGone(err) && len(batch) > 1 {
			for _, it := range batch {
				e.classicTags(ctx, []*item{it})
			}
			return
		}
		for i, it := range batch {
			it.report = tagError(names[i], "", TypeClassic, err)
		}
		return
	}
	byName := map[string]map[string]string{}
	for _, d := range out.TagDescriptions {
		m := map[string]string{}
		for _, t := range d.Tags {
			m[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		byName[aws.ToString(d.LoadBalancerName)] = m
	}
	for i, it := range batch {
		it.tags = byName[names[i]]
	}
}

func (e *Engine) v2Tags(ctx context.Context, batch []*item) {
	arns := make([]string, len(batch))
	for i, it := range batch {
		arns[i] = aws.ToString(it.v2.LoadBalancerArn)
	}
	out, err := e.v2.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: arns})
	if err != nil {
		if isGone(err) && len(batch) > 1 {
			for _, it := range batch {
				e.v2Tags(ctx, []*item{it})
			}
			return
		}
		for i, it := range batch {
			it.report = tagError(aws.ToString(it.v2.LoadBalancerName), arns[i], string(it.v2.Type), err)
		}
		return
	}
	byARN := map[string]map[string]string{}
	for _, d := range out.TagDescriptions {
		m := map[string]string{}
		for _, t := range d.Tags {
			m[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		byARN[aws.ToString(d.ResourceArn)] = m
	}
	for i, it := range batch {
		it.tags = byARN[arns[i]]
	}
}

func tagError(name, arn, typ string, err error) *Report {
	r := &Report{Name: name, ARN: arn, Type: typ}
	if isGone(err) {
		r.Status = StatusGone
		return r
	}
	r.fail(fmt.Errorf("describe tags of %s: %w", name, err))
	return r
}

// isGone reports whether err says the load balancer no longer exists.
func isGone(err error) bool {
	var c *elbtypes.AccessPointNotFoundException
	var v *v2types.LoadBalancerNotFoundException
	return errors.As(err, &c) || errors.As(err, &v)
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
