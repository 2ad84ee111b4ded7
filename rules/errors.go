package rules

import "github.com/stockade-ids/stockade/internal/srcpos"

// A pack's positions and errors are those every loader shares (the
// fail2ban configuration reader reports in the same form).
type (
	Pos    = srcpos.Pos
	Error  = srcpos.Error
	Errors = srcpos.Errors
)
