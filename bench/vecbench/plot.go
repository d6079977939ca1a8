package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// plotRecall draws recall@k against p50 latency (unfiltered top-k):
// exledger's probe-fraction sweep as a line, the other rows as points.
func plotRecall(p params, rows []row) error {
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("top-%d search, %d vectors × %d dims (cosine)", p.k, p.n, p.dim)
	pl.X.Label.Text = "p50 latency, unfiltered (ms, log)"
	pl.Y.Label.Text = fmt.Sprintf("recall@%d", p.k)
	pl.X.Scale = plot.LogScale{}
	pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	pl.Legend.Left = true
	pl.Legend.Top = false
	var sweep plotter.XYs
	for _, r := range rows {
		if r.sweep > 0 {
			sweep = append(sweep, plotter.XY{X: float64(r.p50u) / 1e6, Y: r.recallU})
		}
	}
	if len(sweep) > 0 {
		l, pts, err := plotter.NewLinePoints(sweep)
		if err != nil {
			return err
		}
		red := color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
		l.Color, pts.Color = red, red
		pl.Add(l, pts)
		pl.Legend.Add("exledger IVF-flat, probe fraction sweep", l, pts)
	}
	shapes := []draw.GlyphDrawer{draw.BoxGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}, draw.SquareGlyph{}}
	colors := []color.RGBA{{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, {R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, {R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, {A: 0xff}}
	i := 0
	for _, r := range rows {
		if r.sweep > 0 {
			continue
		}
		s, err := plotter.NewScatter(plotter.XYs{{X: float64(r.p50u) / 1e6, Y: r.recallU}})
		if err != nil {
			return err
		}
		s.GlyphStyle.Shape = shapes[i%len(shapes)]
		s.GlyphStyle.Color = colors[i%len(colors)]
		s.GlyphStyle.Radius = vg.Points(4)
		pl.Add(s)
		pl.Legend.Add(r.system+", "+r.mode, s)
		i++
	}
	return pl.Save(8*vg.Inch, 5*vg.Inch, p.plot)
}
