package main

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// plotRecall draws recall@k against p50 latency, unfiltered (filled
// marks, solid line) and tenant-filtered (hollow marks, dashed line):
// exledger's probe-fraction sweep as lines, the other rows as points.
func plotRecall(p params, rows []row) error {
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("top-%d search, %d vectors × %d dims, cosine (filled: unfiltered, hollow: one tenant of %d)", p.k, p.n, p.dim, p.tenants)
	pl.X.Label.Text = "p50 latency (ms, log)"
	pl.Y.Label.Text = fmt.Sprintf("recall@%d", p.k)
	pl.X.Scale = plot.LogScale{}
	pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	lo := 1.0
	for _, r := range rows {
		lo = math.Min(lo, math.Min(r.recallU, r.recallF))
	}
	pl.Y.Min, pl.Y.Max = math.Floor(lo*50)/50-0.01, 1.005
	pl.Legend.Left = false
	pl.Legend.Top = false
	red := color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	for _, filtered := range []bool{false, true} {
		var xy plotter.XYs
		for _, r := range rows {
			if r.sweep == 0 {
				continue
			}
			if filtered {
				xy = append(xy, plotter.XY{X: float64(r.p50f) / 1e6, Y: r.recallF})
			} else {
				xy = append(xy, plotter.XY{X: float64(r.p50u) / 1e6, Y: r.recallU})
			}
		}
		if len(xy) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, pts.Color = red, red
		pts.Shape = draw.CircleGlyph{}
		name := "exledger IVF-flat, probe fraction sweep, unfiltered"
		if filtered {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			pts.Shape = draw.RingGlyph{}
			name = "exledger IVF-flat, probe fraction sweep, filtered"
		}
		pl.Add(l, pts)
		pl.Legend.Add(name, l, pts)
	}
	filled := []draw.GlyphDrawer{draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}
	hollow := []draw.GlyphDrawer{draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}
	colors := []color.RGBA{{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, {R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, {R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}}
	i := 0
	for _, r := range rows {
		if r.sweep > 0 {
			continue
		}
		c := colors[i%len(colors)]
		u, err := plotter.NewScatter(plotter.XYs{{X: float64(r.p50u) / 1e6, Y: r.recallU}})
		if err != nil {
			return err
		}
		u.GlyphStyle = draw.GlyphStyle{Shape: filled[i%len(filled)], Color: c, Radius: vg.Points(4)}
		f, err := plotter.NewScatter(plotter.XYs{{X: float64(r.p50f) / 1e6, Y: r.recallF}})
		if err != nil {
			return err
		}
		f.GlyphStyle = draw.GlyphStyle{Shape: hollow[i%len(hollow)], Color: c, Radius: vg.Points(4)}
		pl.Add(u, f)
		pl.Legend.Add(r.system+", "+r.mode, u, f)
		i++
	}
	return pl.Save(9*vg.Inch, 5.5*vg.Inch, p.plot)
}
