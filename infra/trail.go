package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudtrail"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// trailLogDays is how long the trail's log files are kept: elbguard needs
// the events (delivered to EventBridge in real time), not the archive.
const trailLogDays = 90

// newTrail records write management events in the stack's region only, the
// minimum for EventBridge to receive "AWS API Call via CloudTrail" events
// from Elastic Load Balancing. The first copy of management events is free;
// the bucket costs its storage.
func newTrail(scope constructs.Construct) (awscloudtrail.Trail, awss3.Bucket) {
	bucket := awss3.NewBucket(scope, jsii.String("TrailBucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Expiration: awscdk.Duration_Days(jsii.Number(trailLogDays)),
		}},
	})
	trail := awscloudtrail.NewTrail(scope, jsii.String("Trail"), &awscloudtrail.TrailProps{
		Bucket:                     bucket,
		ManagementEvents:           awscloudtrail.ReadWriteType_WRITE_ONLY,
		IsMultiRegionTrail:         jsii.Bool(false),
		IncludeGlobalServiceEvents: jsii.Bool(false),
		EnableFileValidation:       jsii.Bool(true),
	})
	suppress(bucket, false, suppression{
		id: "AwsSolutions-S1",
		reason: "The trail's own log bucket: server access logs would need yet another bucket, and reads of the trail logs " +
			"are themselves recorded by the trail (data plane excepted). Enable them if your policy requires.",
	})
	return trail, bucket
}
