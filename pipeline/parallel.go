package pipeline

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ReplayOptions tune ReplayWith.
type ReplayOptions struct {
	// Workers is how many goroutines count at once; 1 or less is Replay,
	// on the calling goroutine alone.
	Workers int
	// Formats are the iterators' formats, in order, as far as they are
	// known (FormatUnknown: any). The rules that can see them decide
	// whether a parallel replay is possible (see ConcurrentMatcher).
	Formats []Format
}

// ReplayWith is Replay on several goroutines when there are several
// iterators and the rules allow it (see ConcurrentMatcher), and Replay
// itself otherwise: either way the sink
// receives the same decisions, with the same ids, in the same order and in
// the same writes, and e ends in the same state.
//
// Each iterator runs ahead on a goroutine of its own that parses its lines
// and matches them (with its own Fork of the matcher), keeping of each event
// only its time, fingerprint and, for the few that matched, the hits and
// the text the decisions quote. One goroutine merges the iterators in
// event-time order as Replay does, runs the clock, drops duplicate alerts,
// and hands each hit to the worker that owns its address: the engine's
// per-address state (windows, evidence, pairs, bans, offense history) is
// split into fixed partitions by a hash of the address (see Counter), and
// worker w owns the partitions p with p mod Workers = w. A worker sees
// every event's clock reading, so it lifts expired bans at the same event
// as Replay does. The decisions of a batch of events are put back in
// Replay's order (by event, unbans before bans, unbans by expiry and
// target, bans by hit) before they are written.
func ReplayWith(ctx context.Context, e *Engine, its []Iterator, sink Sink, opt ReplayOptions) error {
	split := splitOf(its, opt.Workers)
	if !e.concurrent(opt, len(its), len(its) == 1 && split[0]) {
		return Replay(ctx, e, its, sink)
	}
	p := newParallel(e, its, split, opt.Workers)
	formats := opt.formats(len(its))
	// A matcher that is not a SequentialMatcher replays in parallel only
	// when Concurrent said yes (see concurrent): nothing in order.
	if sm, ok := e.matcher.(SequentialMatcher); ok {
		p.inOrder = sm.Stateful(formats)
	}
	return p.run(ctx, its, sink)
}

// concurrent reports whether a parallel replay is possible, worth it,
// and decides what Replay does. Of a single log that cannot be split (see
// Splitter), one goroutine reads, parses and matches every line while the
// merge and the workers de-duplicate and count: that pays only where
// counting weighs as much as the rest, a Suricata fast.log (every line an
// alert). An access log, an auth.log or an eve.json, whose reader does
// most of the work, replayed 5 to 10 % slower that way than on one
// goroutine; split (one is a Splitter), their chunks are decoded on
// every worker.
func (e *Engine) concurrent(opt ReplayOptions, its int, split bool) bool {
	if opt.Workers <= 1 || its < 1 || len(e.rangeRules) > 0 || len(e.ledger.ranges) > 0 || e.counter.track || e.counter.Whole {
		return false
	}
	if its == 1 && !split && (len(opt.Formats) != 1 || opt.Formats[0] != FormatFastLog) {
		return false
	}
	formats := opt.formats(its)
	if sm, ok := e.matcher.(SequentialMatcher); ok {
		return sm.ConcurrentApart(formats)
	}
	cm, ok := e.matcher.(ConcurrentMatcher)
	return ok && cm.Concurrent(formats)
}

// formats are the formats of the its iterators, nil when some are not
// known.
func (opt ReplayOptions) formats(its int) []Format {
	if slices.Contains(opt.Formats, FormatUnknown) || len(opt.Formats) < its {
		return nil
	}
	return opt.Formats
}

const (
	readBatchEvents  = 1024 // events a reader hands over at once
	mergeBatchEvents = 2048 // events the workers take at once
	workerQueue      = 8    // merged batches waiting for a worker, at most
)

// readEvent is what the merge keeps of one event.
type readEvent struct {
	t    time.Time
	fp   uint64
	info int32 // index in readBatch.infos, -1 when no rule matched
	kept int32 // index in readBatch.kept, -1: judged by the reader
}

// hitInfo is what counting needs of an event that some rule matched.
type hitInfo struct {
	t                              time.Time
	line, signature, host, program string
	source                         string
	pid                            int
	hits                           [2]int32 // [start, end) in readBatch.hits
}

// readBatch is a run of one iterator's events, owning their memory: the
// strings of its infos live in arena. It is recycled once the merge and
// every batch of work that points into it are done with it.
type readBatch struct {
	evs   []readEvent
	infos []hitInfo
	hits  []Hit
	arena []byte
	// kept are the events left for the merge to judge in order (see
	// SequentialMatcher).
	kept []Event
	refs atomic.Int32
}

// str copies s into the arena.
func (b *readBatch) str(s string) string {
	if s == "" {
		return ""
	}
	if cap(b.arena)-len(b.arena) < len(s) {
		// A new block, larger, so that a recycled batch soon needs just
		// one; the strings already handed out keep the old block.
		b.arena = make([]byte, 0, max(32<<10, 2*cap(b.arena), len(s)))
	}
	start := len(b.arena)
	b.arena = append(b.arena, s...)
	return UnsafeString(b.arena[start:])
}

// within returns s as a part of dup, a copy of line, when s lies within
// line (parsers slice their fields from the line), and a copy of its own
// otherwise.
func (b *readBatch) within(s, line, dup string) string {
	if s == "" {
		return ""
	}
	if off, ok := offsetIn(s, line); ok {
		return dup[off : off+len(s)]
	}
	return b.str(s)
}

func (b *readBatch) add(ev *Event, hits []Hit, source *string) {
	re := readEvent{t: ev.Time, fp: ev.Fingerprint, info: -1, kept: -1}
	if len(hits) > 0 {
		if ev.Source != *source {
			*source = strings.Clone(ev.Source)
		}
		re.info = int32(len(b.infos))
		start := int32(len(b.hits))
		line := b.str(ev.Line)
		for _, h := range hits {
			h.Key = b.within(h.Key, ev.Line, line)
			h.Captures = nil // the matcher's until its next Match; counting needs none
			b.hits = append(b.hits, h)
		}
		b.infos = append(b.infos, hitInfo{
			t: ev.Time, line: line, signature: b.within(ev.Signature, ev.Line, line),
			host: b.within(ev.Host, ev.Line, line), program: b.within(ev.Program, ev.Line, line),
			source: *source, pid: ev.PID, hits: [2]int32{start, int32(len(b.hits))},
		})
	}
	b.evs = append(b.evs, re)
}

// work is one hit for a worker: hit j of the event at index ev of the
// merged batch, and its place in the stream of hits (see evidence).
type work struct {
	ev, hit int32
	b       *readBatch
	info    int32
	seq, at uint64
}

// mergedBatch is a run of events in merge order, as the workers see it.
type mergedBatch struct {
	nows []time.Time // the clock at each event, after it advanced
	work [][]work    // per worker
	out  [][]tagged  // per worker: its decisions
	refs []*readBatch
	last *readBatch
	// inOrder holds the hits of the events the merge judged (see
	// matchInOrder).
	inOrder *readBatch
	final   bool // the end: workers run the closing tick at nows[0]
	wg      sync.WaitGroup
}

func (mb *mergedBatch) ref(b *readBatch) {
	if mb.last == b {
		return
	}
	b.refs.Add(1)
	mb.refs = append(mb.refs, b)
	mb.last = b
}

// tagged is a decision and where Replay would have written it.
type tagged struct {
	ev     int32 // event index in the batch
	hit    int32 // -1: an unban
	at     time.Time
	target netip.Prefix
	d      Decision
}

func compareTagged(a, b *tagged) int {
	if c := cmp.Compare(a.ev, b.ev); c != 0 {
		return c
	}
	if (a.hit < 0) != (b.hit < 0) {
		if a.hit < 0 {
			return -1
		}
		return 1
	}
	if a.hit < 0 {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return comparePrefix(a.target, b.target)
	}
	return cmp.Compare(a.hit, b.hit)
}

// parallel is one parallel replay.
type parallel struct {
	e       *Engine
	workers []*worker

	// Free lists: batches go round, and a pool that the garbage
	// collector empties would make them garbage.
	freeReads  chan *readBatch
	freeMerged chan *mergedBatch
	readAhead  int
	// readEvents is how many events a reader hands over at once:
	// readBatchEvents, fewer when there are many iterators (see
	// newParallel).
	readEvents int

	// The stream of hits, numbered by the merge (see evidence).
	next, bytes uint64

	// split: the iterators read in chunks, by decoders goroutines each.
	split    []bool
	decoders int
	// inOrder: the merge judges the events that rules keeping state
	// between lines may see (see SequentialMatcher), with hits and
	// source as scratch.
	inOrder bool
	hits    []Hit
	source  string

	mu  sync.Mutex
	err error
}

// worker counts the hits of the partitions it owns on an engine of its
// own.
type worker struct {
	id   int
	e    *Engine
	ev   Event
	next int // the next event of the batch whose expiries are due
}

func newParallel(e *Engine, its []Iterator, split []bool, workers int) *parallel {
	iterators := len(its)
	p := &parallel{e: e, next: max(1, e.counter.lines.next), bytes: e.counter.lines.bytes}
	// Each iterator reads ahead by this many batches: enough that a
	// reader ahead of the merge keeps working while the merge waits on
	// another; little enough that hundreds of rotated logs stay within
	// memory.
	p.readAhead = min(4, max(2, 16/max(1, iterators)))
	// Every reader holds a few batches, most of them full and waiting
	// while the merge reads the logs of the hour: 200 rotated logs of
	// 500 KB peaked at 245 MB on two workers against 102 MB on one, and a
	// year of hourly logs is 8,760. Past 32 iterators the batches shrink
	// in proportion, to 64 events at least (148 MB for those 200 logs,
	// the same CPU): a batch is still tens of microseconds of a reader's
	// work for one hand-over.
	p.readEvents = readBatchEvents
	if iterators > 32 {
		p.readEvents = max(64, readBatchEvents*32/iterators)
	}
	p.split, p.decoders = split, max(2, workers/max(1, iterators))
	free := iterators*(p.readAhead+2) + 16
	for _, s := range p.split {
		if s {
			// The chunks in flight (see readChunks), a few batches each.
			free += 3 * p.decoders * chunkBatches
		}
	}
	p.freeReads = make(chan *readBatch, free)
	p.freeMerged = make(chan *mergedBatch, 2*workerQueue+4)
	for i := range workers {
		p.workers = append(p.workers, &worker{id: i, e: e.forWorker()})
	}
	e.split(p.workers)
	return p
}

// forWorker returns an engine with e's configuration and rules and none of
// its state.
func (e *Engine) forWorker() *Engine {
	w := &Engine{
		cfg:     e.cfg,
		guard:   e.guard,
		allow:   e.allow,
		matcher: e.matcher,
		counter: &Counter{Max: e.counter.Max},
		ledger:  NewLedger(),
		stats:   make([]RuleStats, len(e.stats)),
	}
	w.clock.Advance(e.clock.Now())
	return w
}

// split moves e's per-address state to the workers that own it.
func (e *Engine) split(ws []*worker) {
	n := len(ws)
	for i, pt := range e.counter.parts {
		if pt != nil {
			ws[i%n].e.counter.parts[i] = pt
			e.counter.parts[i] = nil
		}
	}
	for i := range e.pairs {
		ws[i%n].e.pairs[i] = e.pairs[i]
		e.pairs[i] = pairPart{}
	}
	for _, w := range ws {
		if e.counter.lines.buf != nil {
			w.e.counter.lines = e.counter.lines.clone()
		}
		w.e.counter.lines.next, w.e.counter.lines.bytes = e.counter.lines.next, e.counter.lines.bytes
	}
	owner := func(t netip.Prefix) *Ledger { return ws[partOfAddr(t.Addr())%n].e.ledger }
	for t, b := range e.ledger.bans.all() {
		owner(t).bans.set(t, b)
	}
	for t, h := range e.ledger.history {
		owner(t).history[t] = h
	}
	for _, it := range e.ledger.expiry {
		l := owner(it.target)
		l.expiry = append(l.expiry, it)
	}
	for _, w := range ws {
		heap.Init(&w.e.ledger.expiry)
	}
	e.ledger.bans.clear()
	clear(e.ledger.history)
	e.ledger.expiry = e.ledger.expiry[:0]
}

// join moves the workers' state back into e, as if it had counted alone;
// next and bytes are where the stream of hits ended.
func (e *Engine) join(ws []*worker, next, bytes uint64) {
	var rings []*evidence
	for _, w := range ws {
		rings = append(rings, &w.e.counter.lines)
	}
	e.counter.lines.merge(rings, next, bytes)
	for _, w := range ws {
		we := w.e
		for i, pt := range we.counter.parts {
			if pt != nil {
				e.counter.parts[i] = pt
			}
		}
		e.counter.Evicted += we.counter.Evicted
		e.counter.Overflow += we.counter.Overflow
		for i := range we.pairs {
			if we.pairs[i].waits != nil {
				e.pairs[i] = we.pairs[i]
			}
		}
		for t, b := range we.ledger.bans.all() {
			e.ledger.bans.set(t, b)
		}
		for t, h := range we.ledger.history {
			e.ledger.history[t] = h
		}
		e.ledger.expiry = append(e.ledger.expiry, we.ledger.expiry...)
		for i, st := range we.stats {
			s := &e.stats[i]
			s.Matches += st.Matches
			s.Allowlisted += st.Allowlisted
			s.Bans += st.Bans
			s.AlreadyBanned += st.AlreadyBanned
			s.Paired += st.Paired
		}
	}
	heap.Init(&e.ledger.expiry)
}

func (p *parallel) fail(err error, cancel context.CancelFunc) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	cancel()
}

func (p *parallel) run(ctx context.Context, its []Iterator, sink Sink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup

	// Readers.
	reads := make([]chan *readBatch, len(its))
	cm := p.e.matcher.(ConcurrentMatcher)
	for i, it := range its {
		reads[i] = make(chan *readBatch, p.readAhead)
		if p.split[i] {
			wg.Go(func() {
				if err := p.readChunks(ctx, it.(Splitter), cm, p.decoders, reads[i]); err != nil {
					p.fail(err, cancel)
				}
			})
			continue
		}
		m := p.fork(cm)
		wg.Go(func() {
			if err := p.read(ctx, it, m, reads[i]); err != nil {
				p.fail(err, cancel)
			}
		})
	}

	// Workers.
	toWorkers := make([]chan *mergedBatch, len(p.workers))
	for i, w := range p.workers {
		// Room for the workers to drift apart: each batch goes to all of
		// them, and one a little behind must not stall the others.
		toWorkers[i] = make(chan *mergedBatch, workerQueue)
		wg.Go(func() {
			for mb := range toWorkers[i] {
				if ctx.Err() == nil {
					w.count(mb)
				}
				mb.wg.Done()
			}
		})
	}

	// The collector writes the decisions in order.
	toCollector := make(chan *mergedBatch, workerQueue+2)
	var collected sync.WaitGroup
	collected.Go(func() {
		if err := p.collect(ctx, toCollector, sink); err != nil {
			p.fail(err, cancel)
		}
	})

	// The merge, on this goroutine.
	now, err := p.merge(ctx, reads, toWorkers, toCollector)
	if err != nil {
		p.fail(err, cancel)
	}
	for _, c := range toWorkers {
		close(c)
	}
	close(toCollector)
	collected.Wait()
	// Readers stopped early (an error) may still wait to send.
	cancel()
	wg.Wait()
	p.e.join(p.workers, p.next, p.bytes)
	p.e.clock.Advance(now)
	return p.err
}

// read runs one iterator to its end, matching as it goes.
func (p *parallel) read(ctx context.Context, it Iterator, m *fork, out chan<- *readBatch) error {
	defer close(out)
	ev := new(Event)
	var (
		hits   []Hit
		source string
	)
	b := p.newRead()
	send := func() bool {
		select {
		case out <- b:
			b = p.newRead()
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		ev.Reset()
		if err := it.Next(ev); err != nil {
			if errors.Is(err, io.EOF) {
				if len(b.evs) > 0 {
					send()
				}
				return nil
			}
			return err
		}
		p.match(ev, m, &hits, b, &source)
		if len(b.evs) >= p.readEvents && !send() {
			return nil
		}
	}
}

func (p *parallel) newRead() *readBatch {
	select {
	case b := <-p.freeReads:
		return b
	default:
		return &readBatch{evs: make([]readEvent, 0, p.readEvents),
			infos: make([]hitInfo, 0, p.readEvents/2), hits: make([]Hit, 0, p.readEvents/2)}
	}
}

func (p *parallel) release(b *readBatch) {
	if b.refs.Add(-1) == 0 {
		b.evs, b.infos, b.hits = b.evs[:0], b.infos[:0], b.hits[:0]
		b.arena = b.arena[:0]
		clear(b.kept)
		b.kept = b.kept[:0]
		select {
		case p.freeReads <- b:
		default:
		}
	}
}

// cursor is one iterator's place in the merge.
type cursor struct {
	in  <-chan *readBatch
	b   *readBatch
	i   int
	idx int
}

func (c *cursor) before(d *cursor) bool {
	return mergesBefore(c.b.evs[c.i].t, c.idx, d.b.evs[d.i].t, d.idx)
}

// pull moves c to its next batch; false at the end of its iterator.
func (c *cursor) pull(ctx context.Context) (bool, error) {
	select {
	case b, ok := <-c.in:
		if !ok {
			return false, nil
		}
		b.refs.Store(1) // the merge's own
		c.b, c.i = b, 0
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// merge takes the iterators' events in event-time order (ties: the earlier
// iterator first), as Replay does, and returns the clock at the end.
func (p *parallel) merge(ctx context.Context, reads []chan *readBatch, toWorkers []chan *mergedBatch, toCollector chan<- *mergedBatch) (time.Time, error) {
	e := p.e
	now := e.clock.Now()
	var h mergeHeap[*cursor]
	for i, in := range reads {
		c := &cursor{in: in, idx: i}
		ok, err := c.pull(ctx)
		if err != nil {
			return now, err
		}
		if ok {
			h = append(h, c)
		}
	}
	h.init((*cursor).before)
	nw := int32(len(p.workers))
	mb := p.newMerged()
	dispatch := func(mb *mergedBatch) error { return dispatch(ctx, mb, toWorkers, toCollector) }
	for len(h) > 0 {
		c := h[0]
		b := c.b
		re := &b.evs[c.i]
		if re.t.After(now) {
			now = re.t
		}
		mb.nows = append(mb.nows, now)
		if re.fp != 0 && e.seen(re.fp, re.t) {
			e.Duplicates++
		} else {
			e.Events++
			hb, info := b, re.info
			if re.kept >= 0 {
				hb, info = p.matchInOrder(mb, &b.kept[re.kept], now)
			}
			if info >= 0 {
				k := int32(len(mb.nows) - 1)
				inf := &hb.infos[info]
				n := uint64(len(quoted(inf.line)))
				for j, hit := range hb.hits[inf.hits[0]:inf.hits[1]] {
					w := int32(partOfAddr(Canonical(hit.Target))) % nw
					mb.work[w] = append(mb.work[w], work{ev: k, hit: int32(j), b: hb, info: info, seq: p.next, at: p.bytes})
					p.next++
					p.bytes += n
				}
				mb.ref(hb)
			}
		}
		if c.i++; c.i == len(b.evs) {
			p.release(b)
			ok, err := c.pull(ctx)
			if err != nil {
				return now, err
			}
			if !ok {
				h.pop((*cursor).before)
			}
		}
		h.fix((*cursor).before)
		if len(mb.nows) >= mergeBatchEvents {
			if err := dispatch(mb); err != nil {
				return now, err
			}
			mb = p.newMerged()
		}
	}
	if len(mb.nows) > 0 {
		if err := dispatch(mb); err != nil {
			return now, err
		}
		mb = p.newMerged()
	}
	mb.final = true
	mb.nows = append(mb.nows, now)
	return now, dispatch(mb)
}

// dispatch hands a merged batch to every worker, then to the collector.
func dispatch(ctx context.Context, mb *mergedBatch, toWorkers []chan *mergedBatch, toCollector chan<- *mergedBatch) error {
	mb.wg.Add(len(toWorkers))
	for _, c := range toWorkers {
		select {
		case c <- mb:
		case <-ctx.Done():
			mb.wg.Done()
		}
	}
	select {
	case toCollector <- mb:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *parallel) newMerged() *mergedBatch {
	var mb *mergedBatch
	select {
	case mb = <-p.freeMerged:
	default:
		n := len(p.workers)
		mb = &mergedBatch{nows: make([]time.Time, 0, mergeBatchEvents), work: make([][]work, n), out: make([][]tagged, n)}
	}
	mb.nows = mb.nows[:0]
	for i := range mb.work {
		mb.work[i] = mb.work[i][:0]
		mb.out[i] = mb.out[i][:0]
	}
	mb.refs, mb.last, mb.inOrder, mb.final = mb.refs[:0], nil, nil, false
	return mb
}

// count runs one merged batch's work on the worker's partitions.
func (w *worker) count(mb *mergedBatch) {
	out := mb.out[w.id][:0]
	w.next = 0
	if mb.final {
		// Replay's closing Tick.
		w.e.out = w.e.out[:0]
		w.e.expire(mb.nows[0])
		out = w.tagUnbans(out, 0)
		mb.out[w.id] = out
		return
	}
	for _, wk := range mb.work[w.id] {
		out = w.expireThrough(mb, int(wk.ev), out)
		inf := &wk.b.infos[wk.info]
		ev := &w.ev
		ev.Time, ev.Line, ev.Source, ev.Signature = inf.t, inf.line, inf.source, inf.signature
		ev.Host, ev.Program, ev.PID = inf.host, inf.program, inf.pid
		w.e.out = w.e.out[:0]
		w.e.counter.lines.next, w.e.counter.lines.bytes = wk.seq, wk.at
		w.e.count(wk.b.hits[inf.hits[0]+wk.hit], ev)
		for _, d := range w.e.out {
			out = append(out, tagged{ev: wk.ev, hit: wk.hit, d: d})
		}
	}
	out = w.expireThrough(mb, len(mb.nows)-1, out)
	mb.out[w.id] = out
}

// expireThrough lifts, at each event of the batch up to i, the bans that
// Replay lifts there: it expires before judging every event, so a ban
// falls at the first event whose clock reading reaches its expiry.
func (w *worker) expireThrough(mb *mergedBatch, i int, out []tagged) []tagged {
	l := w.e.ledger
	for w.next <= i {
		if len(l.expiry) == 0 {
			w.next = i + 1
			break
		}
		top, from := l.expiry[0].at, w.next
		k := from + sort.Search(i+1-from, func(j int) bool { return !top.After(mb.nows[from+j]) })
		if k > i {
			w.next = i + 1
			break
		}
		w.e.out = w.e.out[:0]
		w.e.expire(mb.nows[k])
		out = w.tagUnbans(out, int32(k))
		w.next = k + 1
	}
	return out
}

func (w *worker) tagUnbans(out []tagged, ev int32) []tagged {
	for i, d := range w.e.out {
		it := w.e.lifted[i]
		out = append(out, tagged{ev: ev, hit: -1, at: it.at, target: it.target, d: d})
	}
	return out
}

// collect writes each merged batch's decisions in Replay's order, with
// Replay's writes: a write as soon as an event leaves batch or more
// decisions pending, and one at the end.
func (p *parallel) collect(ctx context.Context, in <-chan *mergedBatch, sink Sink) error {
	var (
		out    = writeBatch{sink: sink}
		heads  = make([]int, len(p.workers))
		failed error
	)
	for mb := range in {
		mb.wg.Wait()
		if failed == nil && ctx.Err() == nil {
			clear(heads)
			ev := int32(-1)
			for {
				// The smallest head among the workers' sorted outputs.
				var best *tagged
				bw := -1
				for w, out := range mb.out {
					if heads[w] < len(out) && (best == nil || compareTagged(&out[heads[w]], best) < 0) {
						best, bw = &out[heads[w]], w
					}
				}
				if best == nil {
					break
				}
				heads[bw]++
				if best.ev != ev && out.full() {
					if failed = out.flush(ctx); failed != nil {
						break
					}
				}
				ev = best.ev
				out.ds = append(out.ds, best.d)
			}
			if failed == nil && !mb.final && out.full() {
				failed = out.flush(ctx)
			}
		}
		for _, b := range mb.refs {
			p.release(b)
		}
		final := mb.final
		select {
		case p.freeMerged <- mb:
		default:
		}
		if final && failed == nil && ctx.Err() == nil {
			failed = out.flush(ctx)
		}
	}
	return failed
}
