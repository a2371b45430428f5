package demo

import (
	"context"
	"fmt"
	"time"

	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/test/peer"
)

// enforcerPart is steps 1-14 of the story: the problem on a local AWS, the
// enforcer Lambda fixing it from CloudTrail events, the state read back, the
// compliance side, an exemption, the readiness gate and the migration to an NLB.
func (r *run) enforcerPart(ctx context.Context) {
	r.ui.part("Part 1: the enforcer",
		"Load balancers like the seed's in a local AWS emulator; the enforcer Lambda, under the real Lambda\n"+
			"runtime emulator, brings the tagged ones to TCP/SSL with proxy protocol from CloudTrail events.")
	var invokeURL string
	r.steps(ctx, []namedStep{
		{"Start moto_server, the local AWS emulator", r.startMoto},
		{"Create the seed's load balancers (before)", func(ctx context.Context) error {
			cert, err := newCertificate(time.Now())
			if err != nil {
				return err
			}
			r.cert = cert
			return r.createSeed(ctx)
		}},
		{"Turn on Security Hub and a notification topic with an inbox", r.setUpCompliance},
		{"elbguard audit: the tagged load balancers are non-compliant", func(ctx context.Context) error {
			return r.audit(ctx, 1, map[string]engine.Status{
				ClassicName: engine.StatusNonCompliant,
				NLBName:     engine.StatusNonCompliant,
				LegacyName:  engine.StatusSkipped,
			})
		}},
		{"elbguard audit --securityhub: the findings in Security Hub are FAILED", r.auditToSecurityHub},
		{"Start the enforcer Lambda under aws-lambda-rie", func(ctx context.Context) (err error) {
			invokeURL, err = r.startEnforcer(ctx)
			return err
		}},
		{"Send CloudTrail events to it, as EventBridge does", func(ctx context.Context) error {
			return r.sendEvents(ctx, invokeURL)
		}},
		{"elbguard audit again: compliant", func(ctx context.Context) error {
			return r.audit(ctx, 0, map[string]engine.Status{
				ClassicName: engine.StatusCompliant,
				NLBName:     engine.StatusCompliant,
				LegacyName:  engine.StatusSkipped,
			})
		}},
		{"Read the load balancers back: tagged ones fixed, untagged one untouched", func(ctx context.Context) error {
			st, err := ReadState(ctx, r.moto.aws)
			if err != nil {
				return err
			}
			r.showState(st)
			return st.Check()
		}},
		{"Security Hub read back: the same findings are PASSED after the remediation", func(ctx context.Context) error {
			return r.showFindings(ctx, shtypes.ComplianceStatusPassed)
		}},
		{"A notification as the on-call engineer receives it", r.showNotification},
		{"An exempted load balancer is left alone", func(ctx context.Context) error {
			return r.exemptLeftAlone(ctx, invokeURL)
		}},
		{"The readiness gate: no proxy protocol until the instances are ready", func(ctx context.Context) error {
			return r.readinessGate(ctx, invokeURL)
		}},
		{"elbguard migrate: an NLB with proxy protocol v2 beside the Classic ELB", r.migrateClassic},
	})
}

// startMoto starts moto_server, or uses the one in Config.MotoURL.
func (r *run) startMoto(ctx context.Context) error {
	if r.cfg.MotoURL != "" {
		r.moto = newMotoEnv(r.cfg.MotoURL)
		r.ui.say("using the running moto_server at %s", r.cfg.MotoURL)
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	m, err := peer.StartMoto(wctx, r.cfg.Root, r.processOptions())
	if err != nil {
		return fmt.Errorf("start moto_server: %w", err)
	}
	r.started(m.Process)
	r.moto = newMotoEnv(m.URL)
	r.ui.cmd(fmt.Sprintf("moto_server -H 127.0.0.1 -p %d", m.Port))
	r.ui.say("AWS_ENDPOINT_URL=%s for every AWS call below; no AWS account involved", m.URL)
	return nil
}
