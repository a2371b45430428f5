package awsclient_test

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/elbguard/elbguard/internal/awsclient"
)

// A hub's provider assumes the spoke role in every account but its own.
func ExampleProvider_RoleARN() {
	p, err := awsclient.NewProvider(aws.Config{Region: "eu-west-1"}, awsclient.ProviderConfig{Home: "123456789012"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.RoleARN("111111111111"))
	fmt.Println(awsclient.ValidAccount("111111111111"), awsclient.ValidRegion("eu-west-1"), awsclient.ValidRegion("eu west 1"))
	// Output:
	// arn:aws:iam::111111111111:role/elbguard-spoke
	// true true false
}

// The limiter's defaults stay below AWS's ELB refill rates (10/s and 3/s).
func ExampleLimits_WithDefaults() {
	l := awsclient.Limits{}.WithDefaults()
	fmt.Println(l.Describe, l.Mutate, l.DescribeBurst, l.MutateBurst)
	// Output: 8 2 4 1
}
