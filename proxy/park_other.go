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
func (p *parkSet) registerFD(*parkSlot, int, int64) error {
	return errors.New("park: not supported on this system")
}
func (p *parkSet) forget(int) {}

func dupFD(uintptr) (int, error) { return -1, errors.New("park: not supported on this system") }
func closeFD(int)                {}
func fileConn(int) (net.Conn, error) {
	return nil, errors.New("park: not supported on this system")
}
