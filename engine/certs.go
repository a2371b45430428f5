package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// A Classic HTTPS or SSL listener is replaced by deleting it and creating
// its TCP/SSL successor with the same certificate. If the certificate was
// deleted since the listener was made, the listener keeps serving, but both
// the successor and the rollback fail: the port would stay dark. So before a
// listener with a certificate is deleted, the certificate is read.

// IAMCertificateAPI is the IAM call the engine uses to see that a server
// certificate still exists (*iam.Client).
type IAMCertificateAPI interface {
	GetServerCertificate(ctx context.Context, in *iam.GetServerCertificateInput, optFns ...func(*iam.Options)) (*iam.GetServerCertificateOutput, error)
}

// ACMCertificateAPI is the ACM call the engine uses to see that a
// certificate still exists and is issued (*acm.Client).
type ACMCertificateAPI interface {
	DescribeCertificate(ctx context.Context, in *acm.DescribeCertificateInput, optFns ...func(*acm.Options)) (*acm.DescribeCertificateOutput, error)
}

// Compile-time proof that the SDK clients satisfy the interfaces.
var (
	_ IAMCertificateAPI = (*iam.Client)(nil)
	_ ACMCertificateAPI = (*acm.Client)(nil)
)

type certificates struct {
	iam IAMCertificateAPI
	acm ACMCertificateAPI
}

// WithCertificates gives the engine the IAM and ACM clients it reads
// certificates with. Without them (or without the one a certificate needs),
// the engine cannot tell that a listener's certificate still exists and never
// replaces a listener that has one (finding certificate_unverified).
func WithCertificates(iamAPI IAMCertificateAPI, acmAPI ACMCertificateAPI) Option {
	return func(e *Engine) { e.certs = certificates{iam: iamAPI, acm: acmAPI} }
}

// certificateGate reports whether the listener may be replaced as far as its
// certificate goes. Only a listener this run would delete is checked (enforce,
// a dry run too since its plan is the change, not held), so a compliant load
// balancer costs no call.
func (e *Engine) certificateGate(ctx context.Context, r *Report, l *elbtypes.Listener) bool {
	cert := aws.ToString(l.SSLCertificateId)
	if cert == "" || !needsSwap(l) || r.Mode != ModeEnforce || r.hold != nil {
		return true
	}
	problem, err := e.certs.check(ctx, cert)
	switch {
	case err != nil:
		r.fail(fmt.Errorf("listener %d not replaced: read its certificate %s: %w", l.LoadBalancerPort, cert, err))
		return false
	case errors.Is(problem, errCertUnverified):
		r.findOpen(RuleCertificateUnverified, "listener %d not replaced: %v, so elbguard cannot tell that it still exists (a deleted certificate would leave the port without a listener)", l.LoadBalancerPort, problem)
		return false
	case problem != nil:
		r.findOpen(RuleCertificateMissing, "listener %d not replaced: its certificate %v. Deleting the listener would leave port %d dark: neither its replacement nor the rollback could be created. "+
			"Give the listener a certificate that exists (SetLoadBalancerListenerSSLCertificate), then elbguard converts it", l.LoadBalancerPort, problem, l.LoadBalancerPort)
		return false
	}
	return true
}

var errCertUnverified = errors.New("certificate not verifiable")

// check returns a problem (the certificate is missing, an ACM certificate
// not ISSUED, which ELB cannot use, or it cannot be checked:
// errCertUnverified) or an API error.
func (c certificates) check(ctx context.Context, cert string) (problem, err error) {
	a, perr := arn.Parse(cert)
	switch {
	case perr != nil:
		return fmt.Errorf("%w: %s is not an ARN", errCertUnverified, cert), nil
	case a.Service == "iam" && strings.HasPrefix(a.Resource, "server-certificate/"):
		if c.iam == nil {
			return fmt.Errorf("%w: no IAM client to read %s", errCertUnverified, cert), nil
		}
		name := a.Resource[strings.LastIndex(a.Resource, "/")+1:]
		// Existence is what the swap needs: CreateLoadBalancerListeners
		// fails with CertificateNotFound once the certificate is deleted.
		_, err := c.iam.GetServerCertificate(ctx, &iam.GetServerCertificateInput{ServerCertificateName: aws.String(name)})
		var nf *iamtypes.NoSuchEntityException
		switch {
		case errors.As(err, &nf):
			return fmt.Errorf("%s no longer exists in IAM (server certificate %q)", cert, name), nil
		case err != nil:
			return nil, fmt.Errorf("iam:GetServerCertificate %s: %w", name, err)
		}
		return nil, nil
	case a.Service == "acm":
		if c.acm == nil {
			return fmt.Errorf("%w: no ACM client to read %s", errCertUnverified, cert), nil
		}
		out, err := c.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(cert)})
		var nf *acmtypes.ResourceNotFoundException
		switch {
		case errors.As(err, &nf):
			return fmt.Errorf("%s no longer exists in ACM", cert), nil
		case err != nil:
			return nil, fmt.Errorf("acm:DescribeCertificate %s: %w", cert, err)
		}
		if d := out.Certificate; d != nil && d.Status != acmtypes.CertificateStatusIssued {
			return fmt.Errorf("%s is %s in ACM, not ISSUED", cert, d.Status), nil
		}
		return nil, nil
	}
	return fmt.Errorf("%w: %s is neither an IAM server certificate nor an ACM certificate", errCertUnverified, cert), nil
}
