package elasticsearch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elk-project/elk/collector/sink"
)

// ErrSpoolFull is returned when a document does not fit in the spool.
var ErrSpoolFull = errors.New("spool full")

// ErrSpoolInUse is returned when another sink (in this or another process)
// holds the lock of a spool directory.
var ErrSpoolInUse = errors.New("in use by another process")

// segmentMaxBytes is the size at which the spool starts a new segment file.
const segmentMaxBytes = 8 << 20

// spool is an append-only, bounded, ordered on-disk queue of documents split
// into segment files (NNNNNNNNNNNN.spool). Documents are appended to the
// newest segment and drained from the oldest; a drained segment is deleted.
//
// Record format: uint32 payload length, uint32 CRC-32 of the payload, then
// the payload: int64 spool time, int64 doc time (Unix ns), then ID, Dataset,
// Tenant, Key, Body each as uint32 length + bytes. A torn record at the end
// of a segment (crash during append) is ignored.
type spool struct {
	mu       sync.Mutex
	dir      string
	maxBytes int64
	now      func() time.Time

	lock   *os.File
	segs   []*segment // oldest first; the last one may be open for append
	bytes  int64
	docs   int64
	nextID uint64
}

type segment struct {
	id     uint64
	path   string
	size   int64
	docs   int64
	oldest time.Time // spool time of the first record
	w      *os.File  // non-nil while open for append
	bw     *bufio.Writer
	sealed bool
	// settled is owned by the sink's drain: which records already have a
	// final outcome (in memory only; a restart drains them again, and the
	// cluster answers those as duplicates).
	settled []atomic.Bool
}

// openFirstSpool opens the first of dirs whose lock is free; a directory
// another sink holds is skipped, any other error is returned.
func openFirstSpool(dirs []string, maxBytes int64, now func() time.Time) (*spool, error) {
	var errs []error
	for _, dir := range dirs {
		sp, err := openSpool(dir, maxBytes, now)
		if err == nil {
			return sp, nil
		}
		if !errors.Is(err, ErrSpoolInUse) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func openSpool(dir string, maxBytes int64, now func() time.Time) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating spool dir: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		lock.Close()
		return nil, fmt.Errorf("spool dir %s is being removed: %w", dir, ErrSpoolInUse)
	}
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("reading spool dir: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, now: now, lock: lock}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".spool") {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, ".spool"), 10, 64)
		if err != nil {
			continue
		}
		seg := &segment{id: id, path: filepath.Join(dir, name), sealed: true}
		recs, err := seg.read()
		if err != nil {
			lock.Close()
			return nil, err
		}
		if len(recs) == 0 {
			_ = os.Remove(seg.path)
			continue
		}
		info, err := os.Stat(seg.path)
		if err != nil {
			lock.Close()
			return nil, fmt.Errorf("spool segment: %w", err)
		}
		seg.size, seg.docs, seg.oldest = info.Size(), int64(len(recs)), recs[0].spooled
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
		s.docs += seg.docs
		if id >= s.nextID {
			s.nextID = id + 1
		}
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].id < s.segs[j].id })
	return s, nil
}

// stats returns bytes, documents and the spool time of the oldest document.
func (s *spool) stats() (int64, int64, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) == 0 {
		return 0, 0, time.Time{}
	}
	return s.bytes, s.docs, s.segs[0].oldest
}

// empty reports whether no document waits in the spool.
func (s *spool) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs == 0
}

// errSpoolClosed is returned by append after close: the directory is no
// longer this sink's to write.
var errSpoolClosed = errors.New("spool closed")

// append writes docs to the newest segment. It stops at the first document
// that does not fit and returns how many were written.
func (s *spool) append(docs []sink.Doc) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return 0, errSpoolClosed
	}
	now := s.now()
	var buf []byte
	for i := range docs {
		buf = encodeRecord(buf[:0], &docs[i], now)
		if s.bytes+int64(len(buf)) > s.maxBytes {
			s.flushLocked()
			return i, ErrSpoolFull
		}
		seg, err := s.activeLocked()
		if err != nil {
			return i, err
		}
		if _, err := seg.bw.Write(buf); err != nil {
			return i, fmt.Errorf("writing spool: %w", err)
		}
		if seg.docs == 0 {
			seg.oldest = now
		}
		seg.size += int64(len(buf))
		seg.docs++
		s.bytes += int64(len(buf))
		s.docs++
		if seg.size >= segmentMaxBytes {
			if err := seg.seal(); err != nil {
				return i + 1, err
			}
		}
	}
	return len(docs), s.flushLocked()
}

func (s *spool) flushLocked() error {
	if n := len(s.segs); n > 0 && s.segs[n-1].bw != nil {
		if err := s.segs[n-1].bw.Flush(); err != nil {
			return fmt.Errorf("writing spool: %w", err)
		}
	}
	return nil
}

func (s *spool) activeLocked() (*segment, error) {
	if n := len(s.segs); n > 0 && !s.segs[n-1].sealed {
		return s.segs[n-1], nil
	}
	seg := &segment{id: s.nextID, path: filepath.Join(s.dir, fmt.Sprintf("%012d.spool", s.nextID))}
	s.nextID++
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("creating spool segment: %w", err)
	}
	seg.w, seg.bw = f, bufio.NewWriterSize(f, 64<<10)
	s.segs = append(s.segs, seg)
	return seg, nil
}

// oldest seals the oldest segment (new appends go to a new one) and returns
// it with its records, or nil when the spool is empty.
func (s *spool) oldest() (*segment, []spoolRecord, error) {
	s.mu.Lock()
	if len(s.segs) == 0 {
		s.mu.Unlock()
		return nil, nil, nil
	}
	seg := s.segs[0]
	err := seg.seal()
	s.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	recs, err := seg.read()
	return seg, recs, err
}

// remove deletes a drained segment.
func (s *spool) remove(seg *segment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.segs {
		if x == seg {
			s.segs = append(s.segs[:i], s.segs[i+1:]...)
			s.bytes -= seg.size
			s.docs -= seg.docs
			break
		}
	}
	if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing spool segment: %w", err)
	}
	return nil
}

// close flushes and closes the open segment; the files stay for next time.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, seg := range s.segs {
		errs = append(errs, seg.seal())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
		s.lock = nil
	}
	return errors.Join(errs...)
}

// removeDir deletes an empty spool's directory and releases it. The
// directory is first renamed, under the lock, to a name no spool pattern
// matches, so a sink starting at that moment creates a fresh directory
// instead of writing into one being removed (lockDir notices the rename).
// Only the spool's own files are deleted: a directory holding anything
// else is left in place, renamed back, and reported.
func (s *spool) removeDir() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) > 0 {
		return fmt.Errorf("spool %s is not empty", s.dir)
	}
	defer func() {
		if s.lock != nil {
			s.lock.Close()
			s.lock = nil
		}
	}()
	gone := filepath.Join(filepath.Dir(s.dir), fmt.Sprintf(".removing-%d-%s", os.Getpid(), filepath.Base(s.dir)))
	if err := os.Rename(s.dir, gone); err != nil {
		return err
	}
	entries, err := os.ReadDir(gone)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if n := e.Name(); n == "LOCK" || n == outputMarker || strings.HasSuffix(n, ".spool") {
			if err := os.Remove(filepath.Join(gone, n)); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(gone); err != nil {
		// Something else lives there: put it back where it was.
		if rerr := os.Rename(gone, s.dir); rerr != nil {
			return errors.Join(err, rerr)
		}
		return fmt.Errorf("spool dir %s holds other files; left in place: %w", s.dir, err)
	}
	return nil
}

// outputMarker names the file in a spool directory that identifies the
// output writing there (see spool.markOutput): a sink adopts only spools
// of its own output.
const outputMarker = "OUTPUT"

// markOutput records which output this spool belongs to.
func (s *spool) markOutput(id string) error {
	return os.WriteFile(filepath.Join(s.dir, outputMarker), []byte(id+"\n"), 0o640)
}

// spoolOutput reads the output identity of the spool in dir ("" when
// unmarked).
func spoolOutput(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, outputMarker))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (g *segment) seal() error {
	g.sealed = true
	if g.w == nil {
		return nil
	}
	err := g.bw.Flush()
	if cerr := g.w.Close(); err == nil {
		err = cerr
	}
	g.w, g.bw = nil, nil
	if err != nil {
		return fmt.Errorf("closing spool segment: %w", err)
	}
	return nil
}

type spoolRecord struct {
	spooled time.Time
	doc     sink.Doc
}

func (g *segment) read() ([]spoolRecord, error) {
	data, err := os.ReadFile(g.path)
	if err != nil {
		return nil, fmt.Errorf("reading spool segment: %w", err)
	}
	var recs []spoolRecord
	for len(data) >= 8 {
		n := binary.BigEndian.Uint32(data)
		sum := binary.BigEndian.Uint32(data[4:])
		if uint64(len(data)-8) < uint64(n) {
			break // torn tail
		}
		payload := data[8 : 8+n]
		data = data[8+n:]
		if crc32.ChecksumIEEE(payload) != sum {
			break
		}
		rec, ok := decodeRecord(payload)
		if !ok {
			break
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func encodeRecord(buf []byte, d *sink.Doc, now time.Time) []byte {
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint64(buf, uint64(now.UnixNano()))
	buf = binary.BigEndian.AppendUint64(buf, uint64(d.Time.UnixNano()))
	for _, f := range [][]byte{[]byte(d.ID), []byte(d.Dataset), []byte(d.Tenant), d.Key, d.Body} {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(f)))
		buf = append(buf, f...)
	}
	payload := buf[8:]
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[4:], crc32.ChecksumIEEE(payload))
	return buf
}

func decodeRecord(p []byte) (spoolRecord, bool) {
	if len(p) < 16 {
		return spoolRecord{}, false
	}
	var r spoolRecord
	r.spooled = time.Unix(0, int64(binary.BigEndian.Uint64(p)))
	r.doc.Time = time.Unix(0, int64(binary.BigEndian.Uint64(p[8:]))).UTC()
	p = p[16:]
	var fields [5][]byte
	for i := range fields {
		if len(p) < 4 {
			return spoolRecord{}, false
		}
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		if uint64(len(p)) < uint64(n) {
			return spoolRecord{}, false
		}
		fields[i], p = p[:n:n], p[n:]
	}
	r.doc.ID, r.doc.Dataset, r.doc.Tenant = string(fields[0]), string(fields[1]), string(fields[2])
	r.doc.Key, r.doc.Body = fields[3], fields[4]
	return r, true
}
