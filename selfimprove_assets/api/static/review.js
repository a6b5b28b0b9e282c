// The review page: a queue of documents, one document's page with the predicted boxes, and an
// editor for its type and entities. Built for speed: labels are picked (number keys), boxes are
// clickable and a drawn box snaps to the words under it, low-confidence fields stand out, and
// "save and next" (Ctrl+Enter) moves through the queue. Plain DOM, no build step. Text from the
// API is only ever set through textContent/value, never parsed as HTML.
"use strict";

(function () {
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
    if (e.confidence == null) return false;
    const t = threshold(e.label);
    return t != null && e.confidence < t;
  }

  function typeIsLow() {
    const p = state.doc && state.doc.prediction;
    if (!p || p.doc_type_confidence == null) return false;
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
      if (isLow(e)) conf.title = `below the ${threshold(e.label).toFixed(2)} threshold: check it`;
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

  // ------------------------------------------------------------------ queue

  function queueQuery(extra) {
    const q = new URLSearchParams();
    const status = $("filter-status").value;
    if (status) q.set("status", status);
    q.set("order", $("filter-order").value);
    if ($("filter-type").value) q.set("doc_type", $("filter-type").value);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, String(v));
    return q.toString();
  }

  function percent(v) { return v == null ? "—" : (100 * v).toFixed(0) + "%"; }

  function renderQueue() {
    const list = $("queue-list");
    list.replaceChildren();
    state.queue.forEach((item, i) => {
      const li = document.createElement("li");
      li.dataset.id = item.id;
      li.className = "queue-item" + (i === state.queueCursor ? " cursor" : "") + (item.id === state.documentId ? " current" : "");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = item.filename || item.external_id || item.id;
      const meta = document.createElement("span");
      meta.className = "meta";
      const uploaded = item.created_at ? new Date(item.created_at).toLocaleString() : "";
      meta.textContent = `${item.predicted_doc_type || "?"} · least confidence ${percent(item.confidence)} · ${item.page_count} p. · ${item.status}${item.reviewer ? " by " + item.reviewer : ""}`;
      meta.title = `uploaded ${uploaded}`;
      li.append(name, meta);
      li.addEventListener("click", () => { state.queueCursor = i; openDocument(item.id); });
      list.appendChild(li);
    });
    if (!state.queue.length) {
      const li = document.createElement("li");
      li.className = "empty muted";
      li.textContent = "Nothing here: the queue is empty for these filters.";
      list.appendChild(li);
    }
    $("queue-more").hidden = state.queueNext == null;
  }

  function markQueueCurrent() {
    document.querySelectorAll("#queue-list li.queue-item").forEach((li) => {
      li.classList.toggle("current", li.dataset.id === state.documentId);
    });
  }

  async function loadQueue(append) {
    try {
      const offset = append ? state.queueNext || 0 : 0;
      const data = await api("GET", `/v1/documents?${queueQuery({ limit: 50, offset })}`);
      state.queue = append ? state.queue.concat(data.items) : data.items;
      state.queueNext = data.next_offset;
      if (!append) state.queueCursor = Math.max(0, state.queue.findIndex((d) => d.id === state.documentId));
      $("queue-count").textContent = `(${data.total})`;
      renderQueue();
    } catch (err) {
      show(err.message, "error");
    }
  }

  function moveQueueCursor(delta) {
    if (!state.queue.length) return;
    state.queueCursor = Math.min(Math.max(state.queueCursor + delta, 0), state.queue.length - 1);
    const items = document.querySelectorAll("#queue-list li.queue-item");
    items.forEach((li, i) => li.classList.toggle("cursor", i === state.queueCursor));
    if (items[state.queueCursor]) items[state.queueCursor].scrollIntoView({ block: "nearest" });
  }

  async function nextDocument() {
    // The next document to review, in the queue's order, other than this one.
    const data = await api("GET", `/v1/documents?${queueQuery({ status: "unreviewed", limit: 2 })}`);
    const next = data.items.find((d) => d.id !== state.documentId);
    await loadQueue();
    if (!next) {
      await openDocument(null);
      show("The queue is empty: every document is reviewed.", "ok");
      return;
    }
    state.queueCursor = Math.max(0, state.queue.findIndex((d) => d.id === next.id));
    await openDocument(next.id);
  }

  // ------------------------------------------------------------------ actions

  function reviewBody() {
    return {
      doc_type: $("doc-type").value.trim(),
      entities: state.entities.map((e) => ({
        label: (e.label || "").trim(),
        text: e.text || "",
        page: e.page || 0,
        bbox: e.bbox || null,
      })),
    };
  }

  async function save() {
    if (!state.doc || state.doc.review.committed) return false;
    const body = reviewBody();
    if (!body.doc_type || body.doc_type === NEW_LABEL) { show("Document type is required.", "error"); return false; }
    const missing = body.entities.findIndex((e) => !e.label);
    if (missing >= 0) {
      select(missing, { scroll: true });
      show(`Entity ${missing + 1} needs a label (number keys pick one).`, "error");
      return false;
    }
    try {
      const doc = await api("PUT", docPath("/review"), body);
      state.doc = doc;
      markClean();
      renderState(doc);
      show("Review saved.", "ok");
      return true;
    } catch (err) {
      show(err.message, "error");
      return false;
    }
  }

  async function saveAndNext() {
    if (state.doc && !state.doc.review.committed && !(await save())) return;
    await nextDocument();
  }

  async function commitIds(ids) {
    const result = await api("POST", "/v1/commits", { document_ids: ids });
    const corrected = Object.entries(result.corrected).map(([k, v]) => `${k}: ${v}`).join(", ");
    show(result.message + (corrected ? ` — corrected ${corrected}` : ""), "ok");
    return result;
  }

  async function commit() {
    if (!(await save())) return;
    try {
      await commitIds([state.documentId]);
      state.doc = await api("GET", docPath());
      renderState(state.doc);
      renderEntities();
      await loadQueue();
      await loadModels();
    } catch (err) {
      show(err.message, "error");
    }
  }

  async function commitReviewed() {
    try {
      const ids = [];
      let offset = 0;
      for (;;) {
        const data = await api("GET", `/v1/documents?status=reviewed&limit=200&offset=${offset}`);
        ids.push(...data.items.map((d) => d.id));
        if (data.next_offset == null) break;
        offset = data.next_offset;
      }
      if (!ids.length) { show("No reviewed document waits for a commit.", "ok"); return; }
      for (let i = 0; i < ids.length; i += 1000) await commitIds(ids.slice(i, i + 1000));
      if (state.documentId) {
        state.doc = await api("GET", docPath());
        renderState(state.doc);
        renderEntities();
      }
      await loadQueue();
      await loadModels();
    } catch (err) {
      show(err.message, "error");
    }
  }

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
})();
