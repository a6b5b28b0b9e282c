// The review page, one document: its page image with the boxes, its type and entities.
// See review.js for how the page's scripts fit together.
"use strict";

// ------------------------------------------------------------------ rendering

function bboxText(b) { return b ? b.join(", ") : "—"; }

function renderOverlay() {
  const overlay = $("overlay");
  overlay.replaceChildren();
  state.entities.forEach((e, i) => {
    if (!e.bbox || e.page !== state.page) return;
    const [x0, y0, x1, y1] = e.bbox;
    const box = document.createElement("div");
    box.className = "box" + (i === state.selected ? " selected" : "") + (isLow(e) ? " low" : "");
    box.dataset.index = String(i);
    box.title = `${e.label}: ${e.text}`;
    box.style.left = x0 / 10 + "%";
    box.style.top = y0 / 10 + "%";
    box.style.width = Math.max(x1 - x0, 2) / 10 + "%";
    box.style.height = Math.max(y1 - y0, 2) / 10 + "%";
    const tag = document.createElement("span");
    tag.textContent = e.label || "?";
    box.appendChild(tag);
    overlay.appendChild(box);
  });
}

function labelSelect(e, i) {
  const el = document.createElement("select");
  el.className = "label";
  const options = [...state.labels];
  if (e.label && !options.includes(e.label)) options.push(e.label);
  if (!e.label) {
    const blank = document.createElement("option");
    blank.value = "";
    blank.textContent = "— pick a label —";
    el.appendChild(blank);
  }
  for (const label of options) {
    const o = document.createElement("option");
    o.value = label;
    const n = state.labels.indexOf(label);
    o.textContent = n >= 0 && n < 9 ? `${n + 1} · ${label}` : label;
    el.appendChild(o);
  }
  const other = document.createElement("option");
  other.value = NEW_LABEL;
  other.textContent = "new label…";
  el.appendChild(other);
  el.value = e.label || "";
  el.addEventListener("change", () => {
    if (el.value === NEW_LABEL) {
      const name = askNewLabel("label", state.labels);
      if (name) { addLabel(name); renderPalette(); setLabel(i, name); } else el.value = e.label || "";
      return;
    }
    setLabel(i, el.value);
  });
  el.addEventListener("focus", () => select(i));
  return el;
}

function textInput(value, onInput, className, i) {
  const el = document.createElement("input");
  el.value = value;
  el.className = className;
  el.addEventListener("input", () => { onInput(el.value); markDirty(); });
  el.addEventListener("focus", () => select(i));
  return el;
}

function renderEntities() {
  const body = $("entities").querySelector("tbody");
  body.replaceChildren();
  const locked = Boolean(state.doc && state.doc.review.committed);
  state.entities.forEach((e, i) => {
    const row = document.createElement("tr");
    row.dataset.index = String(i);
    row.className = (i === state.selected ? "selected " : "") + (isLow(e) ? "low" : "");
    const cells = [
      labelSelect(e, i),
      textInput(e.text, (v) => { e.text = v; e.confidence = null; }, "text", i),
      textInput(String(e.page), (v) => { e.page = Math.max(0, parseInt(v, 10) || 0); renderOverlay(); }, "page", i),
    ];
    for (const el of cells) {
      el.disabled = locked;
      const td = document.createElement("td");
      td.appendChild(el);
      row.appendChild(td);
    }
    const boxCell = document.createElement("td");
    const boxText = document.createElement("span");
    boxText.className = "bbox";
    boxText.textContent = bboxText(e.bbox);
    boxCell.appendChild(boxText);
    row.appendChild(boxCell);
    const conf = document.createElement("td");
    conf.className = "conf";
    conf.textContent = e.confidence == null ? "" : e.confidence.toFixed(2);
    if (isLow(e)) {
      const t = threshold(e.label);
      conf.title = t != null && e.confidence != null && e.confidence < t
        ? `below the ${t.toFixed(2)} cut-off: check it`
        : "not auto-accepted: check it";
    }
    row.appendChild(conf);
    const del = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "✕";
    button.title = "remove this entity (Delete)";
    button.className = "remove";
    button.disabled = locked;
    button.addEventListener("click", () => removeEntity(i));
    del.appendChild(button);
    row.appendChild(del);
    row.addEventListener("click", () => select(i));
    body.appendChild(row);
  });
  renderOverlay();
}

function select(i, options) {
  if (i >= state.entities.length) i = state.entities.length - 1;
  const changed = state.selected !== i;
  state.selected = i;
  const rows = $("entities").querySelectorAll("tbody tr");
  rows.forEach((r) => r.classList.toggle("selected", Number(r.dataset.index) === i));
  const e = state.entities[i];
  if (e && e.page !== state.page) showPage(e.page);
  else if (changed) renderOverlay();
  if (options && options.scroll && rows[i]) rows[i].scrollIntoView({ block: "nearest" });
}

function removeEntity(i) {
  if (i < 0 || i >= state.entities.length) return;
  state.entities.splice(i, 1);
  state.selected = Math.min(i, state.entities.length - 1);
  markDirty();
  renderEntities();
}

function addEntity() {
  if (!state.doc || state.doc.review.committed) return;
  state.entities.push({ label: "", text: "", page: state.page, bbox: null, confidence: null });
  state.selected = state.entities.length - 1;
  markDirty();
  renderEntities();
  show("New entity: press a number key for its label, then drag its box on the page.", "ok");
}

function applyZoom() {
  $("page-wrap").style.width = Math.round(state.zoom * 100) + "%";
  $("zoom-label").textContent = Math.round(state.zoom * 100) + "%";
}

async function showPage(page) {
  if (!state.documentId) return;
  state.page = Math.min(Math.max(page, 0), state.pageCount - 1);
  $("page-label").textContent = `page ${state.page + 1} / ${state.pageCount}`;
  let url = state.imageUrls[state.page];
  if (!url) {
    const blob = await api("GET", docPath(`/pages/${state.page}.png`));
    url = state.imageUrls[state.page] = URL.createObjectURL(blob);
  }
  $("page-image").src = url;
  renderOverlay();
}

function renderStateLine() {
  const doc = state.doc;
  if (!doc) return;
  const r = doc.review;
  const parts = [`classifier v${doc.model_versions.classifier}`, `extractor v${doc.model_versions.extractor}`];
  parts.push(r.committed ? `committed${r.committed_by ? " by " + r.committed_by : ""}` : r.reviewed ? `reviewed${r.reviewer ? " by " + r.reviewer : ""}, not committed` : "not reviewed");
  if (state.dirty) parts.push("unsaved changes");
  $("state").textContent = parts.join(" · ");
}

function renderState(doc) {
  renderStateLine();
  $("doc-label").textContent = (doc.filename || doc.id) + (doc.external_id ? ` (${doc.external_id})` : "");
  const p = doc.prediction;
  $("type-confidence").textContent = p.doc_type
    ? `predicted: ${p.doc_type} (${(100 * (p.doc_type_confidence || 0)).toFixed(1)}%)`
    : "";
  $("doc-type").classList.toggle("low", typeIsLow());
  const locked = doc.review.committed;
  for (const id of ["save", "save-next", "commit", "add-entity", "doc-type"]) $(id).disabled = locked;
}

function renderTypes(current) {
  const select = $("doc-type");
  select.replaceChildren();
  const types = [...state.docTypes];
  if (current && !types.includes(current)) types.push(current);
  for (const t of types) {
    const o = document.createElement("option");
    o.value = t;
    o.textContent = t;
    select.appendChild(o);
  }
  const other = document.createElement("option");
  other.value = NEW_LABEL;
  other.textContent = "new type…";
  select.appendChild(other);
  select.value = current || "";
}

async function loadLabels() {
  try {
    const data = await api("GET", "/v1/labels");
    state.docTypes = data.doc_types;
    for (const l of data.labels) addLabel(l);
    const filter = $("filter-type");
    const chosen = filter.value;
    filter.replaceChildren(new Option("any", ""));
    for (const t of data.doc_types) filter.appendChild(new Option(t, t));
    filter.value = chosen;
  } catch (_) { /* the document still loads */ }
}

function resetDocumentView() {
  for (const url of Object.values(state.imageUrls)) URL.revokeObjectURL(url);
  $("page-image").removeAttribute("src");
  delete document.body.dataset.loaded;
  state.imageUrls = {};
  state.words = {};
  state.selected = -1;
}

async function openDocument(id, options) {
  if (state.dirty && id !== state.documentId && !window.confirm("This document has unsaved changes. Leave it without saving?")) {
    return false;
  }
  markClean();
  if (!(options && options.replace === false)) {
    const path = id ? `/review/${encodeURIComponent(id)}` : "/review";
    if (location.pathname !== path) history.pushState(null, "", path);
  }
  state.documentId = id;
  resetDocumentView();
  document.body.classList.toggle("no-document", !id);
  markQueueCurrent();
  if (!id) {
    state.doc = null;
    $("doc-label").textContent = "";
    $("queue-list").focus();
    return true;
  }
  // The keys now act on the document, not on the queue list.
  if (document.activeElement === $("queue-list")) $("queue-list").blur();
  try {
    const doc = await api("GET", docPath());
    state.doc = doc;
    state.pageCount = Math.max(doc.page_count, 1);
    const source = doc.review.verified || doc.prediction;
    for (const e of source.entities) addLabel(e.label);
    for (const e of doc.prediction.entities) addLabel(e.label);
    if (doc.prediction.doc_type && !state.docTypes.includes(doc.prediction.doc_type)) state.docTypes.push(doc.prediction.doc_type);
    renderTypes(source.doc_type || doc.prediction.doc_type);
    // Confidence belongs to the model's own entities (a saved review has none).
    state.entities = source.entities.map((e) => ({ ...e }));
    renderPalette();
    renderState(doc);
    renderEntities();
    if (state.entities.length) select(0);
    await showPage(0);
    show(doc.review.committed ? "This document is committed; its review is final." : "", "ok");
    document.body.dataset.loaded = id; // for scripts and tests: this document is ready
    loadModels();
    return true;
  } catch (err) {
    show(err.message, "error");
    return false;
  }
}

async function loadModels() {
  try {
    const data = await api("GET", "/v1/models");
    const lines = [];
    for (const [type, m] of Object.entries(data.models)) {
      const live = m.live_accuracy;
      const acc = live && live.overall.value != null ? (100 * live.overall.value).toFixed(1) + "%" : "n/a";
      lines.push(`${type}: default v${m.default_version} · ${m.retrain_state} · live accuracy ${acc} (n=${live ? live.overall.n : 0}, documents=${live ? live.documents : 0})`);
    }
    $("models").textContent = lines.join("\n");
  } catch (_) { /* the page still works without it */ }
}
