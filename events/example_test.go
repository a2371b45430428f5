package events_test

import (
	"fmt"

	"github.com/elbguard/elbguard/events"
)

func ExampleClassify() {
	raw := []byte(`{
	  "detail-type": "AWS API Call via CloudTrail",
	  "source": "aws.elasticloadbalancing",
	  "detail": {
	    "eventName": "CreateLoadBalancer",
	    "apiVersion": "2012-06-01",
	    "requestParameters": {"loadBalancerName": "web-classic"}
	  }
	}`)
	d, err := events.Classify(raw, events.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Kind, d.Classic)
	// Output: reconcile [web-classic]
}
