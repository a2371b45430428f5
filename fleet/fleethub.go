package fleet

import (
	"context"
	"sync"

	securityhubsdk "github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/elbguard/elbguard/compliance/securityhub"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// locationClients gives the clients of an account and region
// (awsclient.Provider).
type locationClients interface {
	Clients(ctx context.Context, account, region string) (*awsclient.Clients, error)
}

// fleetHubs is the Security Hub client of each account and region of a
// fleet: on the Provider's configuration of that location (the spoke role's
// credentials; the hub's own in its account), built once per location.
// Security Hub accepts a finding for the default product only from the
// account it names, in its region. It is safe for concurrent use.
type fleetHubs struct {
	provider locationClients

	mu      sync.Mutex
	clients map[[2]string]*securityhubsdk.Client
}

// SecurityHub implements securityhub.Clients. A role that cannot be assumed
// fails with awsclient.ErrAssumeRole.
func (h *fleetHubs) SecurityHub(ctx context.Context, account, region string) (securityhub.ImportAPI, error) {
	clients, err := h.provider.Clients(ctx, account, region) // cached; re-checks the credentials
	if err != nil {
		return nil, err
	}
	key := [2]string{account, region}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.clients[key]; c != nil {
		return c, nil
	}
	if h.clients == nil {
		h.clients = map[[2]string]*securityhubsdk.Client{}
	}
	c := securityhubsdk.NewFromConfig(clients.Config)
	h.clients[key] = c
	return c, nil
}
