package engine

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// AddTags and RemoveTags make the fake Classic account taggable (the restore
// tag).
func (f *fake) AddTags(ctx context.Context, in *elb.AddTagsInput, _ ...func(*elb.Options)) (*elb.AddTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, "AddTags "+Params(in))
	for _, n := range in.LoadBalancerNames {
		c, err := f.lookup("AddTags", n)
		if err != nil {
			return nil, err
		}
		if c.tags == nil {
			c.tags = map[string]string{}
		}
		for _, t := range in.Tags {
			c.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return &elb.AddTagsOutput{}, nil
}

func (f *fake) RemoveTags(ctx context.Context, in *elb.RemoveTagsInput, _ ...func(*elb.Options)) (*elb.RemoveTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, "RemoveTags "+Params(in))
	for _, n := range in.LoadBalancerNames {
		c, err := f.lookup("RemoveTags", n)
		if err != nil {
			return nil, err
		}
		for _, t := range in.Tags {
			delete(c.tags, aws.ToString(t.Key))
		}
	}
	return &elb.RemoveTagsOutput{}, nil
}

// fakeCerts answers IAM and ACM certificate reads: every certificate exists
// and is issued unless listed in missing (or given a status).
type fakeCerts struct {
	mu      sync.Mutex
	missing map[string]bool // IAM name or ACM ARN
	status  map[string]acmtypes.CertificateStatus
	fail    error
	calls   int
}

// allCerts is the option every engine test gets unless it checks certificates.
func allCerts() Option {
	c := &fakeCerts{}
	return WithCertificates(c, c)
}

func (c *fakeCerts) GetServerCertificate(ctx context.Context, in *iam.GetServerCertificateInput, _ ...func(*iam.Options)) (*iam.GetServerCertificateOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	name := aws.ToString(in.ServerCertificateName)
	switch {
	case c.fail != nil:
		return nil, c.fail
	case c.missing[name]:
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("The Server Certificate with name " + name + " cannot be found.")}
	}
	md := &iamtypes.ServerCertificateMetadata{ServerCertificateName: in.ServerCertificateName}
	return &iam.GetServerCertificateOutput{ServerCertificate: &iamtypes.ServerCertificate{ServerCertificateMetadata: md}}, nil
}

func (c *fakeCerts) DescribeCertificate(ctx context.Context, in *acm.DescribeCertificateInput, _ ...func(*acm.Options)) (*acm.DescribeCertificateOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	a := aws.ToString(in.CertificateArn)
	switch {
	case c.fail != nil:
		return nil, c.fail
	case c.missing[a]:
		return nil, &acmtypes.ResourceNotFoundException{Message: aws.String("Could not find certificate " + a)}
	}
	st := acmtypes.CertificateStatusIssued
	if s, ok := c.status[a]; ok {
		st = s
	}
	return &acm.DescribeCertificateOutput{Certificate: &acmtypes.CertificateDetail{CertificateArn: in.CertificateArn, Status: st}}, nil
}
