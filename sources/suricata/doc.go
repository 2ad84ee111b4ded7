// Package suricata parses Suricata's two alert outputs, fast.log and
// eve.json, into pipeline Events. Both parsers are pure and give the same
// alert the same Fingerprint, so a host that logs to both files has each
// alert counted once.
package suricata
