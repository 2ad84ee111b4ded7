// Package listen reads live inputs other than files: syslog over UDP and TCP
// (RFC 3164 and RFC 5424 messages, RFC 6587 framing), standard input, and the
// systemd journal through a journalctl child process.
//
// Every input follows the source contract: Run(ctx, out) binds or starts,
// serves until ctx is done, returns nil on cancel and never closes out. Each
// event it sends owns its memory: its strings alias a buffer that is never
// reused, so an event stays valid however far the input reads ahead of the
// consumer. Messages are carved from shared slabs, so anything kept for long
// should still be cloned (pipeline.Event.Clone) rather than pin a slab.
//
// Bad input is never fatal: a message that cannot be framed or parsed is
// counted under a bounded reason and dropped, and the connection it came on
// lives on.
//
// The peer that delivers a syslog message is not its author: relays forward
// other hosts' logs, and anyone who can reach the port can write any header.
// So nothing about the peer goes into an event: Addr stays unset and Host and
// Program are only what the message header says.
package listen
