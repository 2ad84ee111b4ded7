package nginx

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/stockade-ids/stockade/pipeline"
)

// RealIP are the trusted proxies, as nginx's set_real_ip_from: the client
// a proxy names in X-Forwarded-For is believed only when the peer that
// connected is one of them. Anyone else writes what they like into that
// header, so otherwise the peer is the client. The zero RealIP trusts no
// proxy.
type RealIP struct{ from []netip.Prefix }

// ParseRealIP parses real_ip_from entries: addresses or CIDRs.
func ParseRealIP(entries []string) (RealIP, error) {
	var r RealIP
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if !strings.Contains(e, "/") {
			a, err := netip.ParseAddr(e)
			if err != nil {
				return RealIP{}, fmt.Errorf("real_ip_from %q: not an address or CIDR", e)
			}
			a = pipeline.Canonical(a)
			r.from = append(r.from, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return RealIP{}, fmt.Errorf("real_ip_from %q: %v", e, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.from = append(r.from, p.Masked())
	}
	return r, nil
}

// IsZero reports whether r trusts no proxy.
func (r RealIP) IsZero() bool { return len(r.from) == 0 }

// Trusted reports whether a is a trusted proxy.
func (r RealIP) Trusted(a netip.Addr) bool {
	for _, p := range r.from {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client of a request that peer made with the
// forwarded-for list xff (the list as logged: addresses separated by commas
// and spaces, possibly quoted, possibly after a virtual host). As nginx's
// real_ip_recursive does, it walks the list from the right past trusted
// proxies and takes the first address that is not one; a list of trusted
// proxies only gives its left-most. Something that is not an address stops
// the walk at the last proxy reached: past it, the list is the client's
// own writing.
func (r RealIP) Client(peer netip.Addr, xff []byte) netip.Addr {
	if len(r.from) == 0 || !r.Trusted(peer) {
		return peer
	}
	client := peer
	for len(xff) > 0 {
		i := bytes.LastIndexAny(xff, ", \"")
		item := xff[i+1:]
		xff = xff[:max(i, 0)]
		if len(item) == 0 {
			continue
		}
		a, ok := pipeline.ParseAddr(pipeline.UnsafeString(item))
		if !ok {
			return client
		}
		client = a
		if !r.Trusted(a) {
			return a
		}
	}
	return client
}
