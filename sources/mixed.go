package sources

import (
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/nginx"
	"github.com/stockade-ids/stockade/sources/plain"
)

// mixed reads a line of an access log that the access parser refused
// (accessErr) in the form that fits it, when it is a web server's
// error-log line: a container's stdout and stderr, or an error_log and
// access_log pointed at one file, hold both forms, and a whole file read
// in one form lost the other's lines as bad lines.
//
//   - Apache's refusal of a request for its URI (AH00126, AH10244) is the
//     access event of that request (nginx.ParseRefused): the traversals
//     Apache refused are judged by the access rules, as the access lines
//     of the traversals it served are.
//   - Any other line that starts with nginx's or Apache's error-log time
//     (2006/01/02 15:04:05, [Mon Jan 02 15:04:05 2006]) is a plain event,
//     judged by the rules of error logs (formats: [plain]).
//   - Anything else stays a bad line, with the access parser's reason:
//     an access line the parser refused (a bracketed [02/Jan/2006:…] is
//     an access time, Nginx Proxy Manager's) is not another form's.
//
// Only the refused lines pay: an access line parses as before. Only an
// access log falls back, never an error log: nginx writes a Basic-auth
// user name as the client sent it, newlines included, into its error
// log, so a client can write whole lines of its own there, access lines
// among them; a file detected as an error log keeps reading its
// access-looking lines as bad lines. (In a file detected as an access
// log such a line already reads as an access line: the error log and
// the access log belong in files of their own.)
func (d *Decoder) mixed(line []byte, ev *pipeline.Event, accessErr error) error {
	if !errorLogTime(line) {
		return accessErr
	}
	if d.errorLog == nil {
		d.errorLog = plain.New(d.loc)
	}
	loc := d.errorLog.Location()
	if _, _, ok := plain.Timestamp(line, loc); !ok {
		return accessErr
	}
	ev.Reset()
	if nginx.ParseRefused(line, loc, ev) {
		return nil
	}
	ev.Reset()
	return d.errorLog.Parse(line, ev)
}

// errorLogTime reports whether line starts the way nginx's
// (2006/01/02 15:04:05) or Apache's ([Mon Jan 02 15:04:05…) error-log
// lines do: a few byte comparisons before any parsing.
func errorLogTime(b []byte) bool {
	if len(b) < 20 {
		return false
	}
	nginxTime := b[4] == '/' && b[7] == '/' && b[10] == ' ' && b[13] == ':' && b[16] == ':'
	apacheTime := b[0] == '[' && b[4] == ' ' && b[8] == ' ' && b[11] == ' ' && b[14] == ':' && b[17] == ':'
	return nginxTime || apacheTime
}
