package fleet

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Retryable reports whether err is worth a Lambda retry: throttling, server
// errors and network failures that outlived the SDK's own retries, or a
// deadline. Client errors (access denied, validation) are not.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var max *retry.MaxAttemptsError
	if errors.As(err, &max) {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}
