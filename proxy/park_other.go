//go:build !linux

package proxy

// parkSupported: parking needs epoll; elsewhere sessions never park.
const parkSupported = false

type parkSlot struct{}

type parkSet struct{}

var parker = &parkSet{}

func (p *parkSet) park(*tunnelDir, int64) bool { return false }
func (p *parkSet) unparked(*tunnelDir)         {}
func (p *parkSet) release(*tunnelDir)          {}
