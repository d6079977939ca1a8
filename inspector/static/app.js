// exledger inspector: plain JavaScript, no build step, no inline script
// (the Content-Security-Policy allows /static/ only). Event data reaches
// the DOM only as text (textContent), never as markup.
"use strict";

function layoutTimeline() {
  const tl = document.getElementById("timeline");
  if (!tl) return;
  for (const ev of tl.querySelectorAll(".ev")) {
    const x = parseFloat(ev.dataset.x);
    const lane = parseInt(ev.dataset.lane, 10) || 0;
    // 1% margins on both sides, as the axis.
    ev.style.left = (1 + 0.98 * (isNaN(x) ? 50 : x)) + "%";
    ev.style.bottom = (18 + 14 * lane) + "px";
    ev.addEventListener("click", () => showDetail(ev));
  }
}

function showDetail(ev) {
  const src = document.getElementById(ev.dataset.target);
  const box = document.getElementById("detail");
  if (!src || !box) return;
  for (const s of document.querySelectorAll(".ev.selected")) s.classList.remove("selected");
  ev.classList.add("selected");
  document.getElementById("detail-title").textContent = src.dataset.title;
  document.getElementById("detail-json").textContent = src.textContent;
  box.hidden = false;
}

// Overview: reload when the ledger grows (polls /api/head every 2 s).
function autoRefresh() {
  const box = document.getElementById("autorefresh");
  if (!box) return;
  const seen = document.body.dataset.lastSeq;
  setInterval(async () => {
    if (!box.checked) return;
    try {
      const r = await fetch("/api/head", { cache: "no-store" });
      const h = await r.json();
      if (String(h.last_seq) !== seen) location.reload();
    } catch (e) { /* the server is gone or restarting: try again */ }
  }, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  layoutTimeline();
  autoRefresh();
});
