//go:build !linux

package proxy

import (
	"errors"
	"net"
)

// parkSupported: parking needs epoll; elsewhere sessions never park.
const parkSupported = false

type parkSlot struct{}

type parkSet struct{}

var parker = &parkSet{}

func (p *parkSet) alloc(parkItem, *parkSlot) {}
func (p *parkSet) register(*parkSlot, *net.TCPConn, int64) error {
	return errors.New("park: not supported on this system")
}
func (p *parkSet) release(*parkSlot) {}
