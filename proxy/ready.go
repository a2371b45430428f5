package proxy

import (
	"net"
	"slices"
	"strconv"
	"strings"
)

// ReadyPorts lists, sorted and once each, the ports of the listeners that
// read the PROXY header (proxy_protocol required or optional): the value the
// instance's elbguard:proxy-ready tag should carry ("80,81"), so that the
// enforcer turns proxy protocol on for those instance ports only. A
// listener whose address has no port is left out. It reads a validated
// Config (ParseConfig, LoadConfig).
func (c Config) ReadyPorts() []int {
	var ports []int
	for _, l := range c.Listeners {
		if l.ProxyProtocol == ProxyOff {
			continue
		}
		_, p, err := net.SplitHostPort(l.Listen)
		n, perr := strconv.Atoi(p)
		if err != nil || perr != nil || n < 1 || n > 65535 || slices.Contains(ports, n) {
			continue
		}
		ports = append(ports, n)
	}
	slices.Sort(ports)
	return ports
}

// ReadyTagValue is ReadyPorts as the tag value: ports joined by commas, or
// "false" when no listener reads the header.
func (c Config) ReadyTagValue() string {
	ports := c.ReadyPorts()
	if len(ports) == 0 {
		return "false"
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}
