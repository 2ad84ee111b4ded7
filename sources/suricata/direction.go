package suricata

import "net/netip"

// servicePorts are ports servers listen on above 1023. A flow whose source
// port is a service port and whose destination port is not is a server
// answering a client.
var servicePorts = map[int]bool{
	1433: true, 1521: true, 2049: true, 2375: true, 3306: true, 3389: true,
	5060: true, 5432: true, 5900: true, 5985: true, 5986: true, 6379: true,
	8000: true, 8008: true, 8080: true, 8081: true, 8443: true, 8888: true,
	9090: true, 9200: true, 11211: true, 27017: true,
}

func isServicePort(p int) bool { return (p > 0 && p < 1024) || servicePorts[p] }

// attacker picks the side of an alert to ban when the log does not name it
// (no alert.source, no direction). Most alerts fire on what a client sends,
// so the source is the attacker; but a response alert ("GPL ATTACK_RESPONSE
// id check returned root") fires on what the protected server sends back,
// and banning its source would ban the server itself. Such a packet goes
// from a service port to a client's ephemeral port, so then the destination
// is the attacker. A scanner that forges a service source port (nmap -g 53)
// only flips the choice when it also targets an ephemeral port, and then
// the host's own addresses and the allowlist still stand in the way.
func attacker(proto uint64, src netip.Addr, sport int, dst netip.Addr, dport int) netip.Addr {
	if hasPorts(proto) && isServicePort(sport) && !isServicePort(dport) && dport >= 1024 {
		return dst
	}
	return src
}
