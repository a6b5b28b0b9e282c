// The review page: a queue of documents, one document's page with the predicted boxes, and an
// editor for its type and entities. Built for speed: labels are picked (number keys), boxes are
// clickable and a drawn box snaps to the words under it, low-confidence fields stand out, and
// "save and next" (Ctrl+Enter) moves through the queue. Plain DOM, no build step. Text from the
// API is only ever set through textContent/value, never parsed as HTML.
//
// The page's scripts are classic scripts loaded in order (review.html): review.js (state, the
// API client, thresholds, labels), review-document.js (one document: page, boxes, entities),
// review-queue.js (the queue and saving/committing), review-editing.js (drawing, snapping, the
// keyboard, and the wiring that starts the page). They share one global scope, so each sees the
// functions and constants the others declare. At load, review.js takes the token from the
// address; review-editing.js, loaded last, wires the controls and starts the page.
"use strict";

const $ = (id) => document.getElementById(id);
const NEW_LABEL = "\u0000new";
const state = {
  documentId: null,
  doc: null,
  entities: [],
  page: 0,
  pageCount: 1,
  selected: -1,
  imageUrls: {},
  words: {},
  labels: [],
  docTypes: [],
  dirty: false,
  zoom: 1,
  queue: [],
  queueOffset: 0,
  queueNext: null,
  queueCursor: 0,
};

// Token: from ?token= (then removed from the address bar and history) or typed in the page;
// kept in sessionStorage only, so it goes away with the tab.
const params = new URLSearchParams(location.search);
if (params.has("token")) {
  sessionStorage.setItem("selfimprove-token", params.get("token"));
  params.delete("token");
  const query = params.toString();
  history.replaceState(null, "", location.pathname + (query ? "?" + query : "") + location.hash);
}
const token = () => sessionStorage.getItem("selfimprove-token") || "";

function documentIdFromPath() {
  const parts = location.pathname.split("/").filter(Boolean);
  return parts.length >= 2 && parts[0] === "review" ? decodeURIComponent(parts[1]) : null;
}

function show(message, kind) {
  const el = $("message");
  el.textContent = message;
  el.className = kind || "";
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try {
      const data = await response.json();
      if (data && data.error) message = data.error.message;
    } catch (_) { /* not JSON */ }
    const err = new Error(message);
    err.status = response.status;
    throw err;
  }
  const type = response.headers.get("content-type") || "";
  return type.includes("application/json") ? response.json() : response.blob();
}

const docPath = (suffix) => `/v1/documents/${encodeURIComponent(state.documentId)}${suffix || ""}`;

function markDirty() {
  if (state.doc && state.doc.review.committed) return;
  state.dirty = true;
  $("state").dataset.dirty = "1";
  renderStateLine();
}

function markClean() {
  state.dirty = false;
  delete $("state").dataset.dirty;
}

// ------------------------------------------------------------------ thresholds

function threshold(label) {
  const t = (state.doc && state.doc.prediction.thresholds) || {};
  if (label in t) return t[label];
  return "*" in t ? t["*"] : null;
}

function isLow(e) {
  // an auto-accepted field shows as confirmed; the others ask for a look
  if ("auto_accepted" in e) return !e.auto_accepted;
  if (e.confidence == null) return false;
  const t = threshold(e.label);
  return t != null && e.confidence < t;
}

function typeIsLow() {
  const p = state.doc && state.doc.prediction;
  if (!p || p.doc_type_confidence == null) return false;
  if (p.doc_type_auto_accepted != null) {
    return !p.doc_type_auto_accepted && $("doc-type").value === p.doc_type;
  }
  const t = (p.thresholds || {}).doc_type;
  return t != null && p.doc_type_confidence < t && $("doc-type").value === p.doc_type;
}

// ------------------------------------------------------------------ labels

function addLabel(label) {
  if (label && !state.labels.includes(label)) state.labels.push(label);
}

function renderPalette() {
  const palette = $("palette");
  palette.replaceChildren();
  // Number keys pick the first nine; the others are in each row's list.
  state.labels.forEach((label, i) => {
    const key = document.createElement("span");
    key.className = "key";
    if (i < 9) {
      const kbd = document.createElement("kbd");
      kbd.textContent = String(i + 1);
      key.append(kbd, " ");
    }
    key.append(label);
    palette.appendChild(key);
  });
}

function askNewLabel(kind, known) {
  const name = (window.prompt(`New ${kind} name:`) || "").trim();
  if (!name) return null;
  if (known.includes(name)) return name;
  const ok = window.confirm(
    `"${name}" is not a ${kind} the models or reviewers have used. Add it as a new ${kind}?`
  );
  return ok ? name : null;
}

function setLabel(i, label) {
  const e = state.entities[i];
  if (!e || !label || e.label === label) return;
  e.label = label;
  e.confidence = null; // the reviewer's now, not the model's
  markDirty();
  renderEntities();
}
