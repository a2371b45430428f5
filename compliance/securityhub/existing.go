package securityhub

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

// FindAPI is the Security Hub read the sink makes when its client offers it
// (the SDK client does): the findings already imported, so that CreatedAt
// stays when elbguard first saw the problem and an archive is sent only for
// a finding that exists.
type FindAPI interface {
	GetFindings(ctx context.Context, in *securityhub.GetFindingsInput, optFns ...func(*securityhub.Options)) (*securityhub.GetFindingsOutput, error)
}

// idsPerRead is how many Ids one GetFindings filter names (Security Hub
// accepts at most 20 values for a filter field).
const idsPerRead = 20

// existing returns the CreatedAt of every finding of fs that Security Hub
// already holds, by Id. Only findings whose Id was asked for count: a read
// that returns more (an emulator that ignores the filter) changes nothing.
func existing(ctx context.Context, api FindAPI, fs []types.AwsSecurityFinding) (map[string]string, error) {
	want := map[string]bool{}
	var ids []string
	for _, f := range fs {
		if id := aws.ToString(f.Id); !want[id] {
			want[id] = true
			ids = append(ids, id)
		}
	}
	out := map[string]string{}
	for chunk := range slices.Chunk(ids, idsPerRead) {
		filter := &types.AwsSecurityFindingFilters{}
		for _, id := range chunk {
			filter.Id = append(filter.Id, types.StringFilter{Value: aws.String(id), Comparison: types.StringFilterComparisonEquals})
		}
		p := securityhub.NewGetFindingsPaginator(api, &securityhub.GetFindingsInput{Filters: filter, MaxResults: aws.Int32(100)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("GetFindings (%d ids): %w", len(chunk), err)
			}
			for _, f := range page.Findings {
				if id := aws.ToString(f.Id); want[id] {
					out[id] = aws.ToString(f.CreatedAt)
				}
			}
		}
	}
	return out, nil
}

// reconcile keeps the first CreatedAt of findings that exist and drops the
// archives of findings that do not (a deleted load balancer archives what
// it had and creates nothing).
func reconcile(fs []types.AwsSecurityFinding, have map[string]string) []types.AwsSecurityFinding {
	out := fs[:0:0]
	for _, f := range fs {
		created, ok := have[aws.ToString(f.Id)]
		if !ok && f.RecordState == types.RecordStateArchived {
			continue
		}
		if ok && created != "" {
			f.CreatedAt = aws.String(created)
		}
		out = append(out, f)
	}
	return out
}
