package main

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ioWriteBytes is write_bytes of /proc/self/io: bytes this process caused
// to be sent to the storage layer (-1 when unavailable).
func ioWriteBytes() int64 { return procIOField("write_bytes: ") }

// ioReadBytes is read_bytes of /proc/self/io: bytes this process caused
// to be read from the storage layer (page-cache hits are not counted; -1
// when unavailable).
func ioReadBytes() int64 { return procIOField("read_bytes: ") }

// procIOField returns the value of the /proc/self/io line that starts
// with prefix, or -1.
func procIOField(prefix string) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), prefix); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}

// cpuTime is user+sys CPU of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// probe is the drift probe of the research report: p50 of a 4 KiB
// overwrite + fdatasync on a prewritten file, and MB/s of 1 MiB write +
// fdatasync. Run before and after the suite.
type probe struct {
	Sync4KP50 time.Duration
	MiBps     float64
}

func driftProbe(root string) (probe, error) {
	p := filepath.Join(root, "probe.dat")
	defer os.Remove(p)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return probe{}, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for i := 0; i < 4; i++ { // prewrite 4 MiB
		if _, err := f.Write(buf); err != nil {
			return probe{}, err
		}
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return probe{}, err
	}
	var lat []time.Duration
	for i := 0; i < 300; i++ {
		t := time.Now()
		if _, err := f.WriteAt(buf[:4096], int64(i%1024)*4096); err != nil {
			return probe{}, err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return probe{}, err
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	t := time.Now()
	const n = 64
	for i := 0; i < n; i++ {
		if _, err := f.Write(buf); err != nil {
			return probe{}, err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return probe{}, err
		}
	}
	return probe{Sync4KP50: pct(lat, 0.5), MiBps: n / time.Since(t).Seconds()}, nil
}
