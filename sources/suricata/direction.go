package suricata

import (
	"net/netip"
	"strings"
)

// isServicePort reports whether servers listen on p: below 1024, or one of
// the service ports above it. A flow whose source port is a service port
// and whose destination port is not is a server answering a client. A
// switch, not a map: every alert of fast.log asks for both its ports.
func isServicePort(p int) bool {
	if p > 0 && p < 1024 {
		return true
	}
	switch p {
	case 1433, 1521, 2049, 2375, 3306, 3389, 5060, 5432, 5900, 5985, 5986, 6379,
		8000, 8008, 8080, 8081, 8443, 8888, 9090, 9200, 11211, 27017:
		return true
	}
	return false
}

// Why a side of an alert was chosen: Event.SideReason, shown by explain and
// readable by rules as side_reason. README's table "Which side of a Suricata
// alert is banned" explains each.
const (
	SideAlertSource  = "alert.source"    // the rule's target keyword named the attacker
	SideAlertTarget  = "alert.target"    // it named the victim: the other side
	SideHomeNet      = "home_net"        // one side in the home net, which the evidence chose: the other side
	SideHomeNetBoth  = "home_net_both"   // both sides in the home net: nobody
	SideHomeAttacker = "home_attacker"   // Suricata or the rule names the home side the attacker: nobody
	SideResponse     = "attack_response" // the server's answer shows the client's attack
	SideClientSide   = "client_side"     // an attack on a client: the server attacks
	SideServerSide   = "server_side"     // the rule's attack_target is a server: the client attacks
	SideToClient     = "to_client"       // the rule inspects what the server sends: the server
	SideToServer     = "to_server"       // the rule inspects what the client sends: the client
	SidePortResponse = "port_response"   // no word from Suricata; the ports say a server answers: the client
	SideSource       = "source"          // no word from Suricata; the packet's source
)

// alertSides is what an alert says about its two sides, as much as its
// format tells.
type alertSides struct {
	proto        uint64
	src, dst     netip.Addr
	sport, dport int

	// eve.json only.
	source, target netip.Addr // alert.source.ip, alert.target.ip (the target keyword)
	direction      string     // "to_server", "to_client" or ""
	client         netip.Addr // flow.src_ip: the side that opened the flow (Suricata 7)
	attackTarget   attackTarget

	signature, class string
	// text, when set, is what signature and class say (see readText),
	// remembered by a parser that sees the same rules again and again.
	text *textSides
}

// attackTarget is what ET's rule metadata attack_target says the rule
// protects: a client, a server, both, or nothing said.
type attackTarget uint8

const (
	targetUnknown attackTarget = iota
	targetClient
	targetServer
	targetBoth
)

// add folds one attack_target value in.
func (t attackTarget) add(v string) attackTarget {
	var k attackTarget
	switch {
	case v == "Client_and_Server":
		k = targetBoth
	case strings.Contains(v, "Client"): // Client_Endpoint, Mobile_Client
		k = targetClient
	case strings.Contains(v, "Server"), v == "Networking_Equipment", v == "IoT", v == "ICS", v == "SCADA":
		k = targetServer
	default:
		return t
	}
	if t == targetUnknown || t == k {
		return k
	}
	return targetBoth
}

// choose picks the side of an alert to ban and says why. Suricata's own word
// comes first, then what the rule inspects (its class, its direction), then
// the ports. A home net overrules them: no home address is banned. Of an
// alert with one side home, the outside side is the candidate when the
// evidence only guessed (the client attacks, the ports); when Suricata or
// the rule's class named the home side the attacker, the outside side is
// its victim and nobody is banned. The reason is a home net's only where it
// overruled. The zero Addr means nobody.
//
// Who can write what: the packet's addresses and ports are the attacker's
// to choose (a forged source, nmap -g 53), the signature, class, metadata
// and direction are the rule's and Suricata's. So a forged source port can
// only flip the choice of an alert whose rule and flow say nothing, and the
// home net, the host's own addresses and the allowlist still stand in the
// way.
func (s *alertSides) choose(home *HomeNet) (netip.Addr, string) {
	addr, why := s.evidence()
	if home == nil || home.empty() {
		return addr, why
	}
	srcIn, dstIn := home.Contains(s.src), home.Contains(s.dst)
	outside := s.src
	switch {
	case srcIn && dstIn:
		return netip.Addr{}, SideHomeNetBoth
	case srcIn:
		outside = s.dst
	case !dstIn:
		return addr, why // neither side home: transit traffic
	}
	switch {
	case addr == outside:
		return addr, why
	case named(why):
		return netip.Addr{}, SideHomeAttacker
	}
	return outside, SideHomeNet
}

// named reports whether a side was chosen on the word of Suricata or of the
// rule's class rather than by a default or the ports.
func named(why string) bool {
	switch why {
	case SideAlertSource, SideAlertTarget, SideResponse, SideClientSide, SideServerSide:
		return true
	}
	return false
}

// evidence is choose without a home net.
func (s *alertSides) evidence() (netip.Addr, string) {
	if s.source.IsValid() {
		return s.source, SideAlertSource
	}
	if s.target.IsValid() {
		if s.target == s.src {
			return s.dst, SideAlertTarget
		}
		return s.src, SideAlertTarget
	}
	srcIsServer, known := s.srcIsServer()
	server, client := s.dst, s.src
	if srcIsServer {
		server, client = s.src, s.dst
	}
	switch {
	case s.attackResponse():
		return client, SideResponse
	case s.clientSide():
		if !known && !srcIsServer && s.listensBelowEphemeral() {
			server = s.src
		}
		return server, SideClientSide
	case s.response():
		return client, SideResponse
	case s.attackTarget == targetServer:
		return client, SideServerSide
	case known && srcIsServer:
		return server, SideToClient
	case known:
		return client, SideToServer
	case srcIsServer:
		return client, SidePortResponse
	}
	return s.src, SideSource
}

// srcIsServer reports whether the packet's source is the server of its flow
// and whether Suricata said so (its direction or flow.src_ip) rather than
// the ports suggesting it.
func (s *alertSides) srcIsServer() (srcIsServer, known bool) {
	switch {
	case s.direction == "to_client":
		return true, true
	case s.direction == "to_server":
		return false, true
	case s.client.IsValid() && (s.client == s.src) != (s.client == s.dst):
		return s.client == s.dst, true
	}
	return hasPorts(s.proto) && isServicePort(s.sport) && !isServicePort(s.dport) && s.dport >= 1024, false
}

// listensBelowEphemeral: the source port is below every system's
// ephemeral range and the destination port in it, so the source is a
// listener, on a port of its own choice (Meterpreter's 4444). Used only for
// rules about attacks on clients, whose servers are the attacker's and
// listen where they like; for any other alert a chosen source port would
// let a sender point the ban at its target.
func (s *alertSides) listensBelowEphemeral() bool {
	return hasPorts(s.proto) && s.sport > 0 && s.sport < 32768 && s.dport >= 32768
}

// clientSide reports whether the rule is about an attack on a client: an
// exploit kit's landing page, a malicious download, a trojan's or a C2
// server's traffic. Then the server of the flow is the attacker, whichever
// way the packet went (a beacon to_server from an infected client, a landing
// page to_client). ET's attack_target metadata, where the rule has it,
// outweighs the name: ET CURRENT_EVENTS also holds attacks on servers.
func (s *alertSides) clientSide() bool {
	switch s.attackTarget {
	case targetClient:
		return true
	case targetServer:
		return false
	}
	if s.text != nil {
		return s.text.clientSide
	}
	return isClientSideClass(s.class) || isClientSideSignature(s.signature)
}

// textSides is what an alert's signature and class say of its sides.
type textSides struct {
	attackResponse bool // isAttackResponse
	clientSide     bool // isClientSideClass or isClientSideSignature
	response       bool // isResponse
}

func readText(signature, class string) textSides {
	return textSides{
		attackResponse: isAttackResponse(signature),
		clientSide:     isClientSideClass(class) || isClientSideSignature(signature),
		response:       isResponse(signature, class),
	}
}

func (s *alertSides) attackResponse() bool {
	if s.text != nil {
		return s.text.attackResponse
	}
	return isAttackResponse(s.signature)
}

func (s *alertSides) response() bool {
	if s.text != nil {
		return s.text.response
	}
	return isResponse(s.signature, s.class)
}

// textCache remembers what the text of the last rules seen in eve.json
// said, by sid: a log holds the same few hundred rules again and again,
// and reading a signature's words is a sixth of an alert record's parse
// (fast.log keeps them with the rest of its head: see headCache). An entry
// is used only for the very same signature and class, so a rule whose text
// changed (a new ruleset) is read again.
type textCache struct {
	slots [256]textSlot
}

type textSlot struct {
	signature, class []byte
	sides            textSides
	set              bool
}

func (c *textCache) get(sid int, signature, class string) *textSides {
	sl := &c.slots[uint(sid)%uint(len(c.slots))]
	if !sl.set || string(sl.signature) != signature || string(sl.class) != class {
		sl.sides = readText(signature, class)
		// Texts longer than any rule's are read every time, not kept: a
		// garbled log cannot make the cache hold 256 long lines.
		sl.set = len(signature)+len(class) <= maxCachedHead
		if sl.set {
			sl.signature = append(sl.signature[:0], signature...)
			sl.class = append(sl.class[:0], class...)
		}
	}
	return &sl.sides
}

// clientSideClasses are the descriptions of classification.config's
// classes whose alerts an attacker's server causes in a client: trojan-
// activity, exploit-kit, command-and-control, domain-c2, credential-theft,
// social-engineering, pup-activity, coin-mining.
var clientSideClasses = []string{
	"A Network Trojan was detected",
	"Exploit Kit Activity Detected",
	"Malware Command and Control Activity Detected",
	"Domain Observed Used for C2 Detected",
	"Successful Credential Theft Detected",
	"Possible Social Engineering Attempted",
	"Possibly Unwanted Program Detected",
	"Crypto Currency Mining Activity Detected",
}

func isClientSideClass(class string) bool {
	for _, c := range clientSideClasses {
		if strings.EqualFold(class, c) {
			return true
		}
	}
	return false
}

// clientSidePrefixes are the ET (and ETPRO) categories of rules about
// attacks on clients and infected clients.
var clientSidePrefixes = []string{
	"CURRENT_EVENTS ", "MALWARE ", "TROJAN ", "EXPLOIT_KIT ", "WEB_CLIENT ",
	"MOBILE_MALWARE ", "PHISHING ", "ADWARE_PUP ", "COINMINER ", "CNC ",
}

func isClientSideSignature(sig string) bool {
	cat, ok := etCategory(sig)
	if !ok {
		return false
	}
	for _, p := range clientSidePrefixes {
		if strings.HasPrefix(cat, p) {
			return true
		}
	}
	// ET INFO is mostly policy; its downloads (an executable, a script, an
	// HTA from some server) are a server handing a client a payload.
	return strings.HasPrefix(cat, "INFO ") && strings.Contains(cat, "Download")
}

// etCategory returns the signature after its ruleset's name ("ET ",
// "ETPRO ", "GPL ").
func etCategory(sig string) (string, bool) {
	for _, p := range [...]string{"ET ", "ETPRO ", "GPL "} {
		if strings.HasPrefix(sig, p) {
			return sig[len(p):], true
		}
	}
	return "", false
}

// isAttackResponse: ATTACK_RESPONSE rules fire on a server's answer that
// shows an attack worked (id check returned root, a directory listing).
func isAttackResponse(sig string) bool {
	cat, ok := etCategory(sig)
	return ok && strings.HasPrefix(cat, "ATTACK_RESPONSE ")
}

// isResponse: a rule named for a response, or of the classes of a
// successful gain, fires on what the attacked server sends back. Checked
// after the client-side classes: "ET MALWARE ... CnC Response" is the C2
// server answering its bot.
func isResponse(sig, class string) bool {
	return strings.Contains(sig, "Response") ||
		strings.EqualFold(class, "Successful Administrator Privilege Gain") ||
		strings.EqualFold(class, "Successful User Privilege Gain")
}

// flowSeen is what a log says of an alert's flow: its state (eve's
// flow.state or tcp.state), the TCP flags each side sent (tcp.tcp_flags_ts
// and tcp_flags_tc), and the packets each side sent; -1 where it says
// nothing.
type flowSeen struct {
	state              string
	flagsTS, flagsTC   int
	toServer, toClient int
}

var unknownFlow = flowSeen{flagsTS: -1, flagsTC: -1, toServer: -1, toClient: -1}

// spoofable reports whether an alert could have been caused by one packet
// with a forged source: any protocol without a handshake, or a TCP flow
// whose handshake did not complete. A TCP flow the log says nothing of is
// given the benefit of the doubt: Suricata inspects a stream's payload only
// once its handshake is seen (unless stream.midstream is on).
func spoofable(proto uint64, f flowSeen) bool {
	switch proto {
	case 6:
	case 256: // eve without proto: nothing known
		return false
	default:
		return true
	}
	switch f.state {
	case "new", "syn_sent", "syn_recv", "none":
		return true
	case "":
	default: // established, closed, fin_wait1, ...
		return false
	}
	const syn, ack = 0x02, 0x10
	if f.flagsTS >= 0 && f.flagsTC >= 0 {
		// A forged source never sees the server's SYN-ACK, so it cannot
		// send the ACK that completes the handshake.
		return f.flagsTC&(syn|ack) != syn|ack || f.flagsTS&ack == 0
	}
	if f.toServer < 0 || f.toClient < 0 {
		return false
	}
	// At least SYN and ACK from the client and a SYN-ACK back.
	return f.toClient == 0 || f.toServer < 2
}
