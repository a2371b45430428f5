package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/elbguard/elbguard/internal/awsclient"
)

// maxOrgUnits bounds the organizational units one listing walks (AWS
// allows at most 1,000 per organization and 5 levels under the root); a
// lister that returns more is broken or hostile.
const maxOrgUnits = 2000

// ParseOrgUnits reads "ou-...,r-...". Empty gives none.
func ParseOrgUnits(s string) ([]string, error) {
	var units []string
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for u := range strings.SplitSeq(s, ",") {
		u = strings.TrimSpace(u)
		if !awsclient.ValidOrgUnit(u) {
			return nil, fmt.Errorf("organizational unit %q: want ids ou-xxxx-xxxxxxxx or the root id r-xxxx separated by commas", u)
		}
		if !slices.Contains(units, u) {
			units = append(units, u)
		}
	}
	return units, nil
}

// allAccounts lists every account of the organization.
func allAccounts(ctx context.Context, api AccountLister) ([]orgtypes.Account, error) {
	var out []orgtypes.Account
	p := organizations.NewListAccountsPaginator(api, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the organization's accounts: %w", err)
		}
		out = append(out, page.Accounts...)
	}
	return out, nil
}

// accountsUnder lists the accounts of the organizational units (or roots)
// parents and of every unit below them: the accounts a service-managed
// StackSet targeting parents deploys to (the management account excepted,
// which it never deploys to).
func accountsUnder(ctx context.Context, api AccountLister, parents []string) ([]orgtypes.Account, error) {
	var out []orgtypes.Account
	queue := slices.Clone(parents)
	seen := map[string]bool{}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		if seen[parent] {
			continue
		}
		if seen[parent] = true; len(seen) > maxOrgUnits {
			return nil, fmt.Errorf("list the accounts of %s: more than %d organizational units", strings.Join(parents, ","), maxOrgUnits)
		}
		accounts := organizations.NewListAccountsForParentPaginator(api, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
		for accounts.HasMorePages() {
			page, err := accounts.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list the accounts of %s: %w", parent, err)
			}
			out = append(out, page.Accounts...)
		}
		units := organizations.NewListOrganizationalUnitsForParentPaginator(api, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)})
		for units.HasMorePages() {
			page, err := units.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list the organizational units of %s: %w", parent, err)
			}
			for _, u := range page.OrganizationalUnits {
				if id := aws.ToString(u.Id); awsclient.ValidOrgUnit(id) {
					queue = append(queue, id)
				}
			}
		}
	}
	return out, nil
}
