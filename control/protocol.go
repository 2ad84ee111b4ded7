// Package control is stockade's control plane: one JSON request line and
// one JSON reply line over a unix socket of mode 0600 whose peer must be
// root or the daemon's own user. The Server hands each request to the
// daemon's loop, which alone touches the engine; the Client is what the
// CLI (ping, status, ban, unban, reload) and the tests use.
package control

import (
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Request is one request line.
type Request struct {
	Op     string `json:"op"` // ping, status, ban, unban, reload, metrics
	Rule   string `json:"rule,omitempty"`
	Target string `json:"target,omitempty"`
	For    string `json:"for,omitempty"`
}

// Reply is one reply line.
type Reply struct {
	OK       bool               `json:"ok"`
	Error    string             `json:"error,omitempty"`
	Message  string             `json:"message,omitempty"`
	Status   *Status            `json:"status,omitempty"`
	Decision *pipeline.Decision `json:"decision,omitempty"`
	Metrics  string             `json:"metrics,omitempty"`
}

// Status is the reply to status.
type Status struct {
	Since      time.Time      `json:"since"`
	Clock      time.Time      `json:"clock"`
	ActiveBans int            `json:"active_bans"`
	Windows    int            `json:"windows"`
	Files      []FileStatus   `json:"files"`
	Rules      []RuleStatus   `json:"rules"`
	Listeners  []string       `json:"listeners,omitempty"`
	Bad        map[string]int `json:"bad_lines,omitempty"`
}

// FileStatus is one followed file.
type FileStatus struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	Lines  uint64 `json:"lines"`
	Offset int64  `json:"offset"`
}

// RuleStatus mirrors `fail2ban-client status JAIL`.
type RuleStatus struct {
	Rule             string   `json:"rule"`
	Pack             string   `json:"pack"`
	FilesWatched     []string `json:"files_watched"`
	CurrentlyFailing int      `json:"currently_failing"`
	TotalFailed      uint64   `json:"total_failed"`
	CurrentlyBanned  int      `json:"currently_banned"`
	TotalBanned      uint64   `json:"total_banned"`
	BannedList       []string `json:"banned"`
}

// Call is a request on its way to the daemon's loop, which answers on
// Reply (buffered: the answer never blocks the loop).
type Call struct {
	Request Request
	Reply   chan Reply
}

// NewCall is a Call of req with its reply channel.
func NewCall(req Request) Call {
	return Call{Request: req, Reply: make(chan Reply, 1)}
}
