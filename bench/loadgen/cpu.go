package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

// clockTick is the unit of the CPU times in /proc: USER_HZ, 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// watched is a process whose CPU time the run accounts for, besides the
// load generator's own.
type watched struct {
	name string
	pid  int
}

// parseWatched reads -cpu-pids: name=pid pairs, comma-separated.
func parseWatched(s string) ([]watched, error) {
	if s == "" {
		return nil, nil
	}
	var ws []watched
	for _, pair := range strings.Split(s, ",") {
		name, pidText, ok := strings.Cut(pair, "=")
		pid, err := strconv.Atoi(pidText)
		if !ok || name == "" || name == "loadgen" || err != nil || pid < 1 {
			return nil, fmt.Errorf("-cpu-pids %q: want name=pid pairs, comma-separated (loadgen is counted anyway)", s)
		}
		ws = append(ws, watched{name, pid})
	}
	return ws, nil
}

// cpuSample is the CPU time used so far by each watched process and the
// load generator, and by the whole machine.
type cpuSample struct {
	procs            map[string]time.Duration
	machineBusy, all time.Duration // all cores: not idle, and in all
	ok               bool          // every reading succeeded
}

// sampleCPU reads the CPU times now.
func sampleCPU(ws []watched) cpuSample {
	s := cpuSample{procs: make(map[string]time.Duration, len(ws)+1), ok: true}
	self, err := benchkit.SelfCPU()
	if err != nil {
		s.ok = false
	}
	s.procs["loadgen"] = self
	for _, w := range ws {
		d, err := processCPU(w.pid)
		if err != nil {
			s.ok = false
		}
		s.procs[w.name] = d
	}
	if s.machineBusy, s.all, err = machineCPU(); err != nil {
		s.ok = false
	}
	return s
}

// processCPU is the user and system time a process has used (Linux).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count the fields
	// after its closing parenthesis, from field 3 (state).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/pid/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/pid/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// machineCPU is the time all cores have spent busy (anything but idle and
// waiting for I/O), and in all, since boot (Linux's /proc/stat).
func machineCPU() (busy, all time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, errors.New("unexpected /proc/stat")
	}
	var ticks [8]int64 // user nice system idle iowait irq softirq steal
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, err
		}
	}
	var sum int64
	for _, t := range ticks {
		sum += t
	}
	idle := ticks[3] + ticks[4]
	return time.Duration(sum-idle) * clockTick, time.Duration(sum) * clockTick, nil
}

// cpuPerRequest is the CPU time each process used per answer between two
// samples, in µs, with "other" for the rest of the machine's busy time;
// busy is the share of all cores' time that was busy. It returns nil when
// a reading failed or nothing was answered.
func cpuPerRequest(a, b cpuSample, answers int64) (perReq map[string]float64, busy float64) {
	if !a.ok || !b.ok || answers <= 0 || b.all <= a.all {
		return nil, 0
	}
	perReq = make(map[string]float64, len(b.procs)+1)
	var ours time.Duration
	for name, t := range b.procs {
		d := t - a.procs[name]
		ours += d
		perReq[name] = float64(d.Microseconds()) / float64(answers)
	}
	machine := b.machineBusy - a.machineBusy
	perReq["other"] = max(0, float64((machine-ours).Microseconds())/float64(answers))
	return perReq, float64(machine) / float64(b.all-a.all)
}

// cpuText lists CPU times per answer, by process name.
func cpuText(perReq map[string]float64) string {
	parts := make([]string, 0, len(perReq))
	for _, name := range slices.Sorted(maps.Keys(perReq)) {
		parts = append(parts, fmt.Sprintf("%s %.0f µs", name, perReq[name]))
	}
	return strings.Join(parts, ", ")
}
