package sources

import (
	"fmt"

	"github.com/stockade-ids/stockade/sources/nginx"
)

// WebOptions builds a source's web options from its log_format and
// real_ip_from (what names them in errors: the config key or the flag).
func WebOptions(what, logFormat string, realIPFrom []string) (Web, error) {
	var w Web
	var err error
	if logFormat != "" {
		if w.Layout, err = nginx.Compile(logFormat); err != nil {
			return w, fmt.Errorf("%slog_format: %w", what, err)
		}
	}
	if w.RealIP, err = nginx.ParseRealIP(realIPFrom); err != nil {
		return w, fmt.Errorf("%sreal_ip_from: %w", what, err)
	}
	return w, nil
}
