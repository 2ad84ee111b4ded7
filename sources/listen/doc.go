// Package listen reads live inputs other than files: syslog over UDP, TCP
// and a local unix socket (RFC 3164 and RFC 5424 messages, RFC 6587
// framing), standard input, and the systemd journal through a journalctl
// child process.
//
// Every input follows the source contract: Run(ctx, out) binds or starts,
// serves until ctx is done, returns nil on cancel and never closes out. Each
// event it sends owns its memory: its strings alias a buffer that is never
// reused, so an event stays valid however far the input reads ahead of the
// consumer. Messages are carved from shared slabs, so anything kept for long
// should still be cloned (pipeline.Event.Clone) rather than pin a slab.
// The syslog listener's RunBatches is the daemon's faster way: a batch
// holds its events' messages, and once the consumer releases it that
// memory is filled again, so what the consumer keeps of an event it must
// copy (as the engine does of any event: replay reuses its line buffer).
//
// Bad input is never fatal: a message that cannot be framed or parsed is
// counted under a bounded reason and dropped, and the connection it came on
// lives on.
//
// The peer that delivers a syslog message is not its author: relays forward
// other hosts' logs, and anyone who can reach the port can write any header.
// So nothing about the peer goes into an event: Addr stays unset and Host and
// Program are only what the message header says. What the peer decides is
// whether the message is heard at all: a network listener hears only its
// Senders, and on the local inputs (the unix socket, the journal), where the
// kernel or journald says which process wrote a message, the program it
// claims must be one that process may write as (Identities).
package listen
