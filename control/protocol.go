// Package control is stockade's control plane: one JSON request line and
// one JSON reply line over a unix socket of mode 0600 whose peer must be
// root or the daemon's own user. The Server hands each request to the
// daemon's loop, which alone touches the engine; the Client is what the
// CLI (ping, status, ban, unban, reload) and the tests use.
package control

import (
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
)

// Request is one request line.
type Request struct {
	// ping, status, ban, unban, reload, metrics, bans, history, import,
	// allow
	Op     string `json:"op"`
	Rule   string `json:"rule,omitempty"`
	Target string `json:"target,omitempty"`
	For    string `json:"for,omitempty"`

	// ban: set the ban to exactly For, shorter or longer (see
	// pipeline.ManualBan.Replace).
	Replace bool `json:"replace,omitempty"`
	// unban: every active ban (of Rule, when set).
	All bool `json:"all,omitempty"`
	// bans: filters. Target is an address (the bans holding it) or a
	// range (the bans within it); Since is a duration (banned within it).
	Origin    string `json:"origin,omitempty"`
	Since     string `json:"since,omitempty"`
	Simulated bool   `json:"simulated,omitempty"`
	// import: the list's name and its entries (parsed by the client,
	// which may not share the daemon's file system).
	List    string   `json:"list,omitempty"`
	Targets []string `json:"targets,omitempty"`
	// unban on a firewall: why (kept with the override, reported on the
	// bus).
	Reason string `json:"reason,omitempty"`
	// allow: add, del or list; Comment goes with an added entry.
	Action  string `json:"action,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// Reply is one reply line.
type Reply struct {
	OK       bool               `json:"ok"`
	Error    string             `json:"error,omitempty"`
	Message  string             `json:"message,omitempty"`
	Status   *Status            `json:"status,omitempty"`
	Decision *pipeline.Decision `json:"decision,omitempty"`
	Metrics  string             `json:"metrics,omitempty"`

	// Decisions are all those a request sent (unban --all, a ban that
	// replaced another, an import), in order.
	Decisions []pipeline.Decision     `json:"decisions,omitempty"`
	Bans      []Ban                   `json:"bans,omitempty"`
	History   []pipeline.HistoryEntry `json:"history,omitempty"`
	Allow     []guard.Entry           `json:"allow,omitempty"`
	Import    *pipeline.ImportStats   `json:"import,omitempty"`
	// Firewall is a firewall's (stockade enforce) status; Overrides its
	// administrator's unbans in force.
	Firewall  *FirewallStatus `json:"firewall,omitempty"`
	Overrides []Override      `json:"overrides,omitempty"`
}

// Ban is one rule's (on a firewall: one origin's) active ban on a target,
// as `stockade bans` lists it.
type Ban struct {
	Target    string    `json:"target"`
	Rule      string    `json:"rule"`
	Pack      string    `json:"pack,omitempty"`
	Origin    string    `json:"origin,omitempty"`
	Offense   int       `json:"offense,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Source    string    `json:"source,omitempty"`
	At        time.Time `json:"at,omitzero"`
	Expires   time.Time `json:"expires"`
	Left      int64     `json:"left_s"`
	Evidence  []string  `json:"evidence,omitempty"`
	Simulated bool      `json:"simulated,omitempty"`
	// ID is the decision a firewall applied.
	ID string `json:"id,omitempty"`
}

// FirewallStatus is the reply to a firewall's status.
type FirewallStatus struct {
	Name       string            `json:"name"`
	Since      time.Time         `json:"since"`
	Bus        string            `json:"bus"` // nats or kafka
	ActiveBans int               `json:"active_bans"`
	Overrides  int               `json:"overrides"`
	Allowed    int               `json:"allowed"` // runtime allowlist entries
	LastApply  time.Time         `json:"last_apply,omitzero"`
	Origins    []OriginStatus    `json:"origins"`
	Verdicts   map[string]uint64 `json:"verdicts"` // decisions judged, by verdict, since start
	// AcksWaiting are the reports not yet on the bus.
	AcksWaiting int `json:"acks_waiting"`
}

// OriginStatus is one trusted sensor as a firewall sees it.
type OriginStatus struct {
	Name     string `json:"name"`
	Active   int    `json:"active"`
	Deferred int    `json:"deferred"`
	MayUnban bool   `json:"may_unban,omitempty"`
}

// Override is a firewall administrator's unban in force.
type Override struct {
	Target  string    `json:"target"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	Until   time.Time `json:"until"`
	Left    int64     `json:"left_s"`
	Origins []string  `json:"origins,omitempty"`
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
	// Memory is the Go runtime's soft memory limit and where it comes
	// from; HeapBytes, the heap in use now (live and not yet collected).
	Memory    string `json:"memory_limit,omitempty"`
	HeapBytes uint64 `json:"heap_bytes,omitempty"`
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
	// Left is the seconds each banned target has left.
	Left map[string]int64 `json:"left_s,omitempty"`
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
