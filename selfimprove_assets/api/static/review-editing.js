// The review page's editing: boxes drawn or found and snapped to words, the keyboard, and the
// wiring that starts the page (loaded last). See review.js for how the scripts fit together.
"use strict";

// ------------------------------------------------------------------ drawing and snapping

async function pageWords(page) {
  if (!state.words[page]) {
    state.words[page] = api("GET", docPath(`/pages/${page}/words`)).then((d) => d.words).catch((err) => {
      delete state.words[page];
      throw err;
    });
  }
  return state.words[page];
}

// The words a drawn box covers: at least half of a word's box inside it.
function wordsUnder(words, box) {
  const [x0, y0, x1, y1] = box;
  return words.filter((w) => {
    const [a0, b0, a1, b1] = w.bbox;
    const area = Math.max(a1 - a0, 1) * Math.max(b1 - b0, 1);
    const ix = Math.max(0, Math.min(x1, a1) - Math.max(x0, a0));
    const iy = Math.max(0, Math.min(y1, b1) - Math.max(y0, b0));
    return ix * iy >= 0.5 * area;
  });
}

async function snap(e, drawn, page) {
  let words = [];
  try { words = await pageWords(page); } catch (_) { /* keep the drawn box */ }
  const under = wordsUnder(words, drawn);
  if (!under.length) {
    e.bbox = drawn;
    show("No words under that box: type its text.", "error");
    return;
  }
  e.bbox = [
    Math.min(...under.map((w) => w.bbox[0])),
    Math.min(...under.map((w) => w.bbox[1])),
    Math.max(...under.map((w) => w.bbox[2])),
    Math.max(...under.map((w) => w.bbox[3])),
  ];
  e.text = under.map((w) => w.text).join(" ");
  show(`Box snapped to ${under.length} word(s).`, "ok");
}

const norm = (t) => t.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "");

function union(boxes) {
  return [
    Math.min(...boxes.map((b) => b[0])),
    Math.min(...boxes.map((b) => b[1])),
    Math.max(...boxes.map((b) => b[2])),
    Math.max(...boxes.map((b) => b[3])),
  ];
}

// Keyboard boxes: find the selected entity's text among the words (this page first) and
// box it there.
async function findText() {
  const e = state.entities[state.selected];
  if (!e || !state.doc || state.doc.review.committed) return;
  const tokens = (e.text || "").split(/\s+/).map(norm).filter(Boolean);
  if (!tokens.length) { show("Type the entity's text first (e), then press f to find it.", "error"); return; }
  const pages = [state.page, ...Array.from({ length: state.pageCount }, (_, i) => i).filter((i) => i !== state.page)];
  for (const page of pages) {
    let words;
    try { words = (await pageWords(page)).filter((w) => norm(w.text)); } catch (_) { continue; }
    for (let i = 0; i + tokens.length <= words.length; i++) {
      if (tokens.every((t, k) => norm(words[i + k].text) === t)) {
        const run = words.slice(i, i + tokens.length);
        e.bbox = union(run.map((w) => w.bbox));
        e.page = page;
        e.confidence = null;
        markDirty();
        if (page !== state.page) await showPage(page);
        renderEntities();
        show(`Found on page ${page + 1}.`, "ok");
        return;
      }
    }
  }
  show(`"${e.text}" is not among the words of this document: draw its box instead.`, "error");
}

// A click on a word fills the selected entity with it; with ``extend`` (Shift) it is added.
async function clickWord(point, extend) {
  const e = state.entities[state.selected];
  if (!e || !state.doc || state.doc.review.committed) return;
  let words = [];
  try { words = await pageWords(state.page); } catch (_) { return; }
  const [x, y] = point;
  const word = words.find((w) => w.bbox[0] - 2 <= x && x <= w.bbox[2] + 2 && w.bbox[1] - 2 <= y && y <= w.bbox[3] + 2);
  if (!word) return;
  if (extend && e.bbox && e.page === state.page && e.text) {
    e.bbox = union([e.bbox, word.bbox]);
    e.text = `${e.text} ${word.text}`;
  } else {
    e.bbox = word.bbox.slice();
    e.text = word.text;
  }
  e.page = state.page;
  e.confidence = null;
  markDirty();
  renderEntities();
}

function setupDrawing() {
  const wrap = $("page-wrap");
  const drag = $("drag-box");
  let start = null;
  let startHit = -1;
  const point = (ev) => {
    const rect = wrap.getBoundingClientRect();
    const x = Math.round(((ev.clientX - rect.left) / rect.width) * 1000);
    const y = Math.round(((ev.clientY - rect.top) / rect.height) * 1000);
    return [Math.min(Math.max(x, 0), 1000), Math.min(Math.max(y, 0), 1000)];
  };
  // A click on a box selects its entity; a drag draws the selected entity's box.
  wrap.addEventListener("mousedown", (ev) => {
    if (!state.doc || ev.button !== 0) return;
    const hit = ev.target.closest && ev.target.closest(".box");
    startHit = hit ? Number(hit.dataset.index) : -1;
    start = point(ev);
    ev.preventDefault();
  });
  window.addEventListener("mousemove", (ev) => {
    if (!start) return;
    const [x, y] = point(ev);
    drag.hidden = false;
    drag.style.left = Math.min(start[0], x) / 10 + "%";
    drag.style.top = Math.min(start[1], y) / 10 + "%";
    drag.style.width = Math.abs(x - start[0]) / 10 + "%";
    drag.style.height = Math.abs(y - start[1]) / 10 + "%";
  });
  window.addEventListener("mouseup", async (ev) => {
    if (!start) return;
    const [x, y] = point(ev);
    const from = start;
    start = null;
    drag.hidden = true;
    if (Math.abs(x - from[0]) <= 2 && Math.abs(y - from[1]) <= 2) {
      // A new entity (no box yet) takes the word clicked, even inside another box; Shift
      // adds the word to the selected entity; otherwise a click on a box selects its entity.
      const current = state.entities[state.selected];
      if (current && (ev.shiftKey || !current.bbox)) await clickWord([x, y], ev.shiftKey);
      else if (startHit >= 0) select(startHit, { scroll: true });
      else await clickWord([x, y], false);
      return;
    }
    if (state.doc.review.committed || Math.abs(x - from[0]) <= 2 || Math.abs(y - from[1]) <= 2) return;
    const e = state.entities[state.selected];
    if (!e) { show("Select an entity (or press n for a new one), then draw its box.", "error"); return; }
    const drawn = [Math.min(from[0], x), Math.min(from[1], y), Math.max(from[0], x), Math.max(from[1], y)];
    e.page = state.page;
    e.confidence = null;
    await snap(e, drawn, state.page);
    markDirty();
    renderEntities();
  });
}

// ------------------------------------------------------------------ keyboard

function inTextField(target) {
  return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
}

function onKey(ev) {
  const key = ev.key;
  if ((ev.ctrlKey || ev.metaKey) && key === "Enter") {
    ev.preventDefault();
    if (ev.shiftKey) commit(); else saveAndNext();
    return;
  }
  if ((ev.ctrlKey || ev.metaKey) && (key === "s" || key === "S")) {
    ev.preventDefault();
    save();
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.target && ev.target.tagName === "BUTTON" && (key === "Enter" || key === " ")) return;
  if (key === "Escape") {
    if (inTextField(ev.target)) ev.target.blur();
    return;
  }
  if (ev.target === $("queue-list")) {
    if (key === "ArrowDown" || key === "j") { ev.preventDefault(); moveQueueCursor(1); return; }
    if (key === "ArrowUp" || key === "k") { ev.preventDefault(); moveQueueCursor(-1); return; }
    if (key === "Enter") {
      ev.preventDefault();
      const item = state.queue[state.queueCursor];
      if (item) openDocument(item.id);
      return;
    }
  }
  if (inTextField(ev.target)) return;
  const locked = !state.doc || state.doc.review.committed;
  if (/^[1-9]$/.test(key)) {
    const label = state.labels[Number(key) - 1];
    if (!locked && label && state.selected >= 0) { ev.preventDefault(); setLabel(state.selected, label); }
    return;
  }
  switch (key) {
    case "j": case "ArrowDown":
      if (state.entities.length) { ev.preventDefault(); select(Math.min(state.selected + 1, state.entities.length - 1), { scroll: true }); }
      break;
    case "k": case "ArrowUp":
      if (state.entities.length) { ev.preventDefault(); select(Math.max(state.selected - 1, 0), { scroll: true }); }
      break;
    case "n":
      if (!locked) { ev.preventDefault(); addEntity(); }
      break;
    case "e": case "Enter": {
      const row = $("entities").querySelectorAll("tbody tr")[state.selected];
      if (row && !locked) { ev.preventDefault(); row.querySelector("input.text").focus(); }
      break;
    }
    case "Delete": case "Backspace": case "x":
      if (!locked && state.selected >= 0) { ev.preventDefault(); removeEntity(state.selected); }
      break;
    case "t":
      if (!locked) { ev.preventDefault(); $("doc-type").focus(); }
      break;
    case "f":
      if (!locked) { ev.preventDefault(); findText(); }
      break;
    case "q":
      ev.preventDefault();
      $("queue-list").focus();
      break;
    case "]": case "PageDown":
      ev.preventDefault(); showPage(state.page + 1);
      break;
    case "[": case "PageUp":
      ev.preventDefault(); showPage(state.page - 1);
      break;
    case "+": case "=":
      state.zoom = Math.min(state.zoom * 1.25, 4); applyZoom();
      break;
    case "-":
      state.zoom = Math.max(state.zoom / 1.25, 0.5); applyZoom();
      break;
    case "0":
      state.zoom = 1; applyZoom();
      break;
    default:
  }
}

// ------------------------------------------------------------------ wiring

function start() {
  if (!token()) {
    show("Type your API token above to load the queue.", "error");
    return;
  }
  loadLabels().then(async () => {
    await loadQueue();
    await openDocument(documentIdFromPath(), { replace: false });
    if (!state.documentId) $("queue-list").focus();
  });
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("selfimprove-token", $("token").value.trim());
  $("token").value = "";
  start();
});
$("doc-type").addEventListener("change", () => {
  const select = $("doc-type");
  if (select.value === NEW_LABEL) {
    const name = askNewLabel("document type", state.docTypes);
    if (name && !state.docTypes.includes(name)) state.docTypes.push(name);
    const previous = (state.doc.review.verified || state.doc.prediction).doc_type;
    renderTypes(name || previous);
    if (!name) return;
  }
  markDirty();
  $("doc-type").classList.toggle("low", typeIsLow());
});
$("add-entity").addEventListener("click", addEntity);
$("save").addEventListener("click", save);
$("save-next").addEventListener("click", saveAndNext);
$("commit").addEventListener("click", commit);
$("commit-reviewed").addEventListener("click", commitReviewed);
$("queue-more").addEventListener("click", () => loadQueue(true));
for (const id of ["filter-status", "filter-order", "filter-type"]) $(id).addEventListener("change", () => loadQueue());
$("prev-page").addEventListener("click", () => showPage(state.page - 1));
$("next-page").addEventListener("click", () => showPage(state.page + 1));
$("zoom-in").addEventListener("click", () => { state.zoom = Math.min(state.zoom * 1.25, 4); applyZoom(); });
$("zoom-out").addEventListener("click", () => { state.zoom = Math.max(state.zoom / 1.25, 0.5); applyZoom(); });
$("home-link").addEventListener("click", (ev) => { ev.preventDefault(); openDocument(null); });
document.addEventListener("keydown", onKey);
window.addEventListener("beforeunload", (ev) => {
  if (!state.dirty) return;
  // The browser shows its own "leave site?" dialog (the text is not shown any more).
  ev.preventDefault();
  ev.returnValue = "This document has unsaved changes.";
  return ev.returnValue;
});
window.addEventListener("popstate", () => {
  const id = documentIdFromPath();
  if (id !== state.documentId) openDocument(id, { replace: false });
});
applyZoom();
setupDrawing();
start();
