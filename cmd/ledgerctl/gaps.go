package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/exledger/exledger/ledger"
)

// gapJSON is a gap Repair recorded, as ledgerctl prints it.
type gapJSON struct {
	From           uint64            `json:"from"`
	To             uint64            `json:"to"`
	Lost           []ledger.SeqRange `json:"lost"`
	LostEvents     uint64            `json:"lost_events"`
	UnprovenEvents uint64            `json:"unproven_events"`
	Anchored       bool              `json:"anchored"`
	ChainBefore    string            `json:"chain_before"`
	ChainAfter     string            `json:"chain_after"`
	At             string            `json:"at,omitempty"`
}

func toGapsJSON(gs []ledger.Gap) []gapJSON {
	out := make([]gapJSON, 0, len(gs))
	for _, g := range gs {
		lost := g.Lost
		if lost == nil {
			lost = []ledger.SeqRange{}
		}
		out = append(out, gapJSON{From: g.From, To: g.To, Lost: lost, LostEvents: g.LostEvents,
			UnprovenEvents: g.UnprovenEvents, Anchored: g.Anchored, ChainBefore: fmt.Sprintf("%x", g.ChainBefore),
			ChainAfter: fmt.Sprintf("%x", g.ChainAfter), At: g.At})
	}
	return out
}

// rangesText renders seq ranges as "5-9, 12, 20-21" (at most max of them).
func rangesText(rs []ledger.SeqRange, max int) string {
	var parts []string
	for i, r := range rs {
		if i == max {
			parts = append(parts, fmt.Sprintf("… (%d more ranges)", len(rs)-max))
			break
		}
		if r.From == r.To {
			parts = append(parts, fmt.Sprintf("%d", r.From))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r.From, r.To))
		}
	}
	return strings.Join(parts, ", ")
}

// printGaps describes recorded gaps, one line each plus the lost ranges.
func printGaps(w io.Writer, indent string, gs []ledger.Gap) {
	for _, g := range gs {
		chain := fmt.Sprintf("chain proven up to seq %d and again from seq %d (stored chain value after seq %d survived)", g.From-1, g.To+1, g.To)
		if !g.Anchored {
			chain = fmt.Sprintf("chain proven up to seq %d; no stored chain value survived, the chain restarts after seq %d", g.From-1, g.To)
		}
		fmt.Fprintf(w, "%sgap seq %d-%d: %s lost, %s kept but chain-unproven; %s\n", indent, g.From, g.To,
			plural(g.LostEvents, "event"), plural(g.UnprovenEvents, "event"), chain)
		fmt.Fprintf(w, "%s  lost seqs: %s\n", indent, rangesText(g.Lost, 20))
	}
}
