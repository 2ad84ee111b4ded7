package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// DefaultSocket is where the CLI looks for the daemon: $STOCKADE_SOCKET,
// else the default state directory's socket.
func DefaultSocket() string {
	if s := os.Getenv("STOCKADE_SOCKET"); s != "" {
		return s
	}
	return "/var/lib/stockade/stockade.sock"
}

// Client talks to the daemon listening on Socket.
type Client struct {
	Socket string
}

// NewClient is a Client of the socket at path.
func NewClient(path string) *Client {
	return &Client{Socket: path}
}

// Do sends req and returns the reply; a reply that is not OK is also an
// error carrying the daemon's message.
func (c *Client) Do(req Request) (Reply, error) {
	conn, err := net.DialTimeout("unix", c.Socket, 2*time.Second)
	if err != nil {
		return Reply{}, fmt.Errorf("cannot reach stockade at %s (is it running? --socket or STOCKADE_SOCKET): %w", c.Socket, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	// A daemon that refuses us (see checkPeer) answers and closes before
	// reading the request, so the write may fail: its answer says why.
	werr := json.NewEncoder(conn).Encode(req)
	var rep Reply
	if err := json.NewDecoder(conn).Decode(&rep); err != nil {
		if werr != nil {
			return Reply{}, werr
		}
		return Reply{}, fmt.Errorf("bad reply from %s: %w", c.Socket, err)
	}
	if !rep.OK {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}
