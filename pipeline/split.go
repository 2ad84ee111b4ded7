package pipeline

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// Splitter is an Iterator whose lines can be decoded on several goroutines
// at once: a parallel replay of one large file reads it in chunks of whole
// lines, decodes and matches the chunks side by side, and takes their
// events back in file order, so the decisions are those of one goroutine.
type Splitter interface {
	Iterator
	// NextChunk reads the next run of the file's lines, or returns io.EOF
	// at its end. It is called from one goroutine at a time, in file
	// order, and never together with Next.
	NextChunk() (Chunk, error)
}

// Chunk is a run of a Splitter's lines. Its Next decodes them (any one
// goroutine at a time, concurrently with other chunks).
//
// A parser may read a line by what it learnt from the lines before it (an
// access log's layout, learnt from its lines): a chunk decoded before
// those lines were is decoded on an assumption. Settle, called with the
// chunks in file order once each was decoded to its end, checks it:
// false means the chunk's events do not stand, and Next starts again from
// its first line, this time knowing what the lines before it taught.
type Chunk interface {
	Iterator
	Settle() bool
	// Release gives the chunk's memory back; nothing is called after it.
	Release()
}

// SequentialMatcher is a ConcurrentMatcher some of whose rules keep state
// between lines (a fail2ban filter joining a session's lines): a parallel
// replay judges the events such a rule may see in merge order, with the
// matcher it was given, after de-duplication, as Replay does, and the
// others on forks, out of order.
type SequentialMatcher interface {
	ConcurrentMatcher
	// ConcurrentApart is Concurrent, but for the rules that keep state
	// between lines.
	ConcurrentApart(formats []Format) bool
	// Stateful reports whether any rule that keeps state between lines
	// may see the events of sources of formats (nil: not all known),
	// counting the events a source turns into another format's (a
	// syslog log's access lines). A parallel replay asks Sequential of
	// every event when one may, and of none otherwise: on an access
	// log, whose rules' predicates only count distinct values (see
	// Deferrer), it was a lookup of the line's candidate rules, 4 % of
	// the CPU.
	Stateful(formats []Format) bool
	// Sequential reports whether a rule that keeps state between lines
	// may judge ev. It is called on forks.
	Sequential(ev *Event) bool
}

// Deferrer is a fork that may leave an event unjudged: one of its rules
// matched it and has a predicate that reads what the engine's own
// goroutine keeps (what distinct() remembers). A parallel replay judges
// such an event again in merge order with the matcher it was given, as it
// does the events of a SequentialMatcher's rules, and the predicate reads
// the state as Replay would have left it there; the fork's regexes still
// spare the merge the lines that no such rule matches.
type Deferrer interface {
	// Deferred reports whether the last Match left its event to be
	// judged in order (its hits are none).
	Deferred() bool
}

// chunkBatches is about how many batches a chunk fills (sources' chunks
// of 1 MB hold 2,000 to 10,000 lines), to size the free list.
const chunkBatches = 6

// chunkJob is a chunk on its way through the decoders, in file order.
type chunkJob struct {
	c       Chunk
	batches []*readBatch
	err     error
	done    chan struct{}
}

// splitOf returns the iterators a parallel replay reads in chunks: the
// Splitters among them when there are fewer iterators than workers, so
// that the spare workers decode.
func splitOf(its []Iterator, workers int) []bool {
	split := make([]bool, len(its))
	if len(its) >= workers {
		return split
	}
	for i, it := range its {
		_, split[i] = it.(Splitter)
	}
	return split
}

// readChunks is read for a Splitter: one goroutine reads its chunks,
// decoders goroutines decode and match them, and this one hands their
// batches on in file order, settling each chunk (decoding it again on this
// goroutine when it must).
func (p *parallel) readChunks(ctx context.Context, s Splitter, cm ConcurrentMatcher, decoders int, out chan<- *readBatch) error {
	defer close(out)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// order bounds the chunks in flight: those decoded or being decoded
	// while the oldest is not yet handed on.
	order := make(chan *chunkJob, 2*decoders)
	jobs := make(chan *chunkJob, decoders)
	wg.Go(func() {
		defer close(order)
		defer close(jobs)
		for {
			c, err := s.NextChunk()
			j := &chunkJob{c: c, err: err, done: make(chan struct{})}
			if err != nil {
				close(j.done)
			}
			select {
			case order <- j:
			case <-ctx.Done():
				if c != nil {
					c.Release()
				}
				return
			}
			if err != nil {
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				close(j.done)
				return
			}
		}
	})
	for range decoders {
		m := p.fork(cm)
		wg.Go(func() {
			var d chunkDecoder
			for j := range jobs {
				if ctx.Err() == nil {
					j.batches, j.err = p.decodeChunk(&d, j.c, m, nil)
				}
				close(j.done)
			}
		})
	}

	var again chunkDecoder
	redo := p.fork(cm)
	for j := range order {
		<-j.done
		err := j.err
		if err == nil && ctx.Err() == nil {
			err = p.settle(ctx, j, &again, redo, out)
		}
		if j.c != nil {
			j.c.Release()
		}
		for _, b := range j.batches {
			p.recycle(b)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// settle hands a decoded chunk's batches on once it stands, decoding it
// again first when it must.
func (p *parallel) settle(ctx context.Context, j *chunkJob, d *chunkDecoder, m *fork, out chan<- *readBatch) error {
	for tries := 0; !j.c.Settle(); tries++ {
		if tries > 0 {
			return errors.New("a chunk decoded with what the lines before it taught did not settle")
		}
		for _, b := range j.batches {
			p.recycle(b)
		}
		var err error
		if j.batches, err = p.decodeChunk(d, j.c, m, j.batches[:0]); err != nil {
			return err
		}
	}
	for i, b := range j.batches {
		select {
		case out <- b:
			j.batches[i] = nil
		case <-ctx.Done():
			return nil
		}
	}
	j.batches = j.batches[:0]
	return nil
}

// chunkDecoder is a decoding goroutine's scratch.
type chunkDecoder struct {
	ev     Event
	hits   []Hit
	source string
}

// decodeChunk decodes and matches a chunk to its end into batches.
func (p *parallel) decodeChunk(d *chunkDecoder, c Chunk, m *fork, batches []*readBatch) ([]*readBatch, error) {
	b := p.newRead()
	for {
		d.ev.Reset()
		if err := c.Next(&d.ev); err != nil {
			if len(b.evs) > 0 {
				batches = append(batches, b)
			} else {
				p.recycle(b)
			}
			if errors.Is(err, io.EOF) {
				return batches, nil
			}
			return batches, err
		}
		p.match(&d.ev, m, &d.hits, b, &d.source)
		if len(b.evs) >= p.readEvents {
			batches = append(batches, b)
			b = p.newRead()
		}
	}
}

// recycle puts back a batch that nobody else holds (nil: none).
func (p *parallel) recycle(b *readBatch) {
	if b == nil {
		return
	}
	b.refs.Store(1)
	p.release(b)
}

// fork is a reader's own Fork of the matcher, with the interfaces it
// answers to asserted once: asserted at every line, they were 40 % of
// match's own samples in a profile of a split auth.log.
type fork struct {
	m   Matcher
	seq SequentialMatcher // when the merge judges some events in order
	def Deferrer          // when the fork may leave an event unjudged
}

func (p *parallel) fork(cm ConcurrentMatcher) *fork {
	f := &fork{m: cm.Fork()}
	if p.inOrder {
		f.seq = f.m.(SequentialMatcher)
	}
	f.def, _ = f.m.(Deferrer)
	return f
}

// match judges ev with f into b, or keeps it in b for the merge to judge
// in order (see SequentialMatcher).
func (p *parallel) match(ev *Event, f *fork, hits *[]Hit, b *readBatch, source *string) {
	if f.seq != nil && f.seq.Sequential(ev) {
		b.keep(ev)
		return
	}
	*hits = f.m.Match(ev, (*hits)[:0])
	// Checked whatever inOrder says: a fork that deferred an event
	// returned none of its hits, and only the merge can judge it.
	if f.def != nil && f.def.Deferred() {
		b.keep(ev)
		return
	}
	b.add(ev, *hits, source)
}

// keep keeps a copy of ev for the merge to judge.
func (b *readBatch) keep(ev *Event) {
	b.evs = append(b.evs, readEvent{t: ev.Time, fp: ev.Fingerprint, info: -1, kept: int32(len(b.kept))})
	b.kept = append(b.kept, ev.Clone())
}

// matchInOrder judges an event a reader kept (see keep) with the engine's
// own matcher, as Replay would at this point (the clock at now, what
// distinct() saw recorded), into the merged batch's batch of such events;
// it returns that batch and the event's index in its infos, -1 when no
// rule matched.
func (p *parallel) matchInOrder(mb *mergedBatch, ev *Event, now time.Time) (*readBatch, int32) {
	p.e.clock.Advance(now)
	p.hits = p.e.matcher.Match(ev, p.hits[:0])
	p.e.recordSightings()
	if len(p.hits) == 0 {
		return nil, -1
	}
	if mb.inOrder == nil {
		// Its references are the merged batch's alone (see ref).
		mb.inOrder = p.newRead()
		mb.inOrder.refs.Store(0)
	}
	b := mb.inOrder
	b.add(ev, p.hits, &p.source)
	b.evs = b.evs[:0] // the merge walks the reader's batch, not this one
	return b, int32(len(b.infos) - 1)
}
