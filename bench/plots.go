package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var engineColor = map[string]color.RGBA{
	"exledger": {R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	"pebble":   {R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"sqlite":   {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	"bbolt":    {R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// series draws one line per engine: x -> the case's median for that engine.
func (r *runner) series(title, xlabel, ylabel, file string, xs []int, caseOf func(x int) *caseResult, scale float64) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for _, x := range xs {
		ticks = append(ticks, plot.Tick{Value: float64(x), Label: humanCount(x)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	lines := 0
	for _, eng := range []string{"exledger", "pebble", "sqlite", "bbolt"} {
		var pts plotter.XYs
		for _, x := range xs {
			c := caseOf(x)
			if c == nil || !c.find(eng) {
				continue
			}
			if v := c.median(eng); v > 0 {
				pts = append(pts, plotter.XY{X: float64(x), Y: v * scale})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color = engineColor[eng]
		l.Width = vg.Points(2)
		s.Color = engineColor[eng]
		s.Shape = draw.CircleGlyph{}
		p.Add(l, s)
		p.Legend.Add(eng, l, s)
		lines++
	}
	if lines == 0 {
		return nil
	}
	path := filepath.Join(r.plotDir, file)
	if err := p.Save(6*vg.Inch, 4*vg.Inch, path); err != nil {
		return err
	}
	logf("wrote %s", path)
	return nil
}

func (r *runner) plot(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r.plotDir = dir
	if len(r.writers) > 0 {
		var ps []int
		for p := range r.writers {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		if len(ps) > 1 {
			if err := r.series("Durable single-event appends vs writers", "concurrent writers", "events/s (median)", "writers.png",
				ps, func(p int) *caseResult { return r.writers[p] }, 1); err != nil {
				return err
			}
		}
	}
	if len(r.cfg.sizes) > 1 {
		for _, q := range []struct{ id, title, file string }{
			{"selective", "Selective tenant+kind query (~0.1%) vs store size", "query_selective.png"},
			{"timerange", "Tenant time-range query (~1%) vs store size", "query_timerange.png"},
			{"trace", "Trace-link lookup vs store size", "query_trace.png"},
		} {
			if err := r.series(q.title, "events in store", "latency p50 (µs)", q.file, r.cfg.sizes,
				func(n int) *caseResult { return r.caseByID(fmt.Sprintf("%s@%d", q.id, n)) }, 1); err != nil {
				return err
			}
		}
		if err := r.series("Full scan (every event decoded) vs store size", "events in store", "events/s (median)", "scan.png", r.cfg.sizes,
			func(n int) *caseResult { return r.caseByID(fmt.Sprintf("scan@%d", n)) }, 1); err != nil {
			return err
		}
	}
	return nil
}

func humanCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
