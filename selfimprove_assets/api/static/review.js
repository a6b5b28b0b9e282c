// The review page: show a document's page with the predicted boxes, let a reviewer fix the
// type and the entities, save the review and commit. Plain DOM, no build step. Text from the
// API is only ever set through textContent/value, never parsed as HTML.
"use strict";

(function () {
  const documentId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
  const $ = (id) => document.getElementById(id);
  const state = { doc: null, entities: [], page: 0, pageCount: 1, selected: -1, imageUrls: {} };

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

  // ------------------------------------------------------------------ rendering

  function bboxText(b) { return b ? b.join(", ") : "—"; }

  function renderOverlay() {
    const overlay = $("overlay");
    overlay.replaceChildren();
    state.entities.forEach((e, i) => {
      if (!e.bbox || e.page !== state.page) return;
      const [x0, y0, x1, y1] = e.bbox;
      const box = document.createElement("div");
      box.className = "box" + (i === state.selected ? " selected" : "");
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

  function input(value, onInput, className) {
    const el = document.createElement("input");
    el.value = value;
    if (className) el.className = className;
    el.addEventListener("input", () => onInput(el.value));
    el.addEventListener("focus", () => select(Number(el.closest("tr").dataset.index)));
    return el;
  }

  function renderEntities() {
    const body = $("entities").querySelector("tbody");
    body.replaceChildren();
    state.entities.forEach((e, i) => {
      const row = document.createElement("tr");
      row.dataset.index = String(i);
      if (i === state.selected) row.className = "selected";
      const cells = [
        input(e.label, (v) => { e.label = v; renderOverlay(); }, "label"),
        input(e.text, (v) => { e.text = v; }, "text"),
        input(String(e.page), (v) => { e.page = Math.max(0, parseInt(v, 10) || 0); renderOverlay(); }, "page"),
      ];
      for (const el of cells) {
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
      conf.textContent = e.confidence == null ? "" : e.confidence.toFixed(2);
      row.appendChild(conf);
      const del = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "✕";
      button.title = "remove this entity";
      button.className = "remove";
      button.addEventListener("click", () => {
        state.entities.splice(i, 1);
        state.selected = -1;
        renderEntities();
      });
      del.appendChild(button);
      row.appendChild(del);
      row.addEventListener("click", () => select(i));
      body.appendChild(row);
    });
    renderOverlay();
  }

  function select(i) {
    if (state.selected === i) return;
    state.selected = i;
    const rows = $("entities").querySelectorAll("tbody tr");
    rows.forEach((r) => r.classList.toggle("selected", Number(r.dataset.index) === i));
    const e = state.entities[i];
    if (e && e.page !== state.page) showPage(e.page);
    else renderOverlay();
  }

  async function showPage(page) {
    state.page = Math.min(Math.max(page, 0), state.pageCount - 1);
    $("page-label").textContent = `page ${state.page + 1} / ${state.pageCount}`;
    let url = state.imageUrls[state.page];
    if (!url) {
      const blob = await api("GET", `/v1/documents/${encodeURIComponent(documentId)}/pages/${state.page}.png`);
      url = state.imageUrls[state.page] = URL.createObjectURL(blob);
    }
    $("page-image").src = url;
    renderOverlay();
  }

  function renderState(doc) {
    const r = doc.review;
    const parts = [`classifier v${doc.model_versions.classifier}`, `extractor v${doc.model_versions.extractor}`];
    parts.push(r.committed ? "committed" : r.reviewed ? "reviewed, not committed" : "not reviewed");
    $("state").textContent = parts.join(" · ");
    $("doc-label").textContent = (doc.filename || doc.id) + (doc.external_id ? ` (${doc.external_id})` : "");
    const p = doc.prediction;
    $("type-confidence").textContent = p.doc_type
      ? `predicted: ${p.doc_type} (${(100 * (p.doc_type_confidence || 0)).toFixed(1)}%)`
      : "";
    const locked = r.committed;
    for (const id of ["save", "commit", "add-entity"]) $(id).disabled = locked;
    $("doc-type").disabled = locked;
  }

  async function load() {
    if (!token()) {
      show("Type your API token above to load the document.", "error");
      return;
    }
    try {
      const doc = await api("GET", `/v1/documents/${encodeURIComponent(documentId)}`);
      state.doc = doc;
      state.pageCount = Math.max(doc.page_count, 1);
      const source = doc.review.verified || doc.prediction;
      $("doc-type").value = source.doc_type || "";
      const options = $("doc-types");
      options.replaceChildren();
      for (const t of new Set([doc.prediction.doc_type, source.doc_type].filter(Boolean))) {
        const o = document.createElement("option");
        o.value = t;
        options.appendChild(o);
      }
      state.entities = source.entities.map((e) => ({ ...e }));
      renderState(doc);
      renderEntities();
      await showPage(0);
      show(doc.review.committed ? "This document is committed; its review is final." : "", "ok");
      await loadModels();
    } catch (err) {
      show(err.message, "error");
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
    const body = reviewBody();
    if (!body.doc_type) { show("Document type is required.", "error"); return false; }
    const missing = body.entities.findIndex((e) => !e.label);
    if (missing >= 0) { show(`Entity ${missing + 1} needs a label.`, "error"); return false; }
    try {
      const doc = await api("PUT", `/v1/documents/${encodeURIComponent(documentId)}/review`, body);
      state.doc = doc;
      renderState(doc);
      show("Review saved.", "ok");
      return true;
    } catch (err) {
      show(err.message, "error");
      return false;
    }
  }

  async function commit() {
    if (!(await save())) return;
    try {
      const result = await api("POST", "/v1/commits", { document_ids: [documentId] });
      const corrected = Object.entries(result.corrected).map(([k, v]) => `${k}: ${v}`).join(", ");
      show(result.message + (corrected ? ` — corrected ${corrected}` : ""), "ok");
      const doc = await api("GET", `/v1/documents/${encodeURIComponent(documentId)}`);
      state.doc = doc;
      renderState(doc);
      await loadModels();
    } catch (err) {
      show(err.message, "error");
    }
  }

  // Drag on the page to (re)draw the selected entity's box, in 0-1000 page coordinates.
  function setupDrawing() {
    const wrap = $("page-wrap");
    const drag = $("drag-box");
    let start = null;
    const point = (ev) => {
      const rect = wrap.getBoundingClientRect();
      const x = Math.round(((ev.clientX - rect.left) / rect.width) * 1000);
      const y = Math.round(((ev.clientY - rect.top) / rect.height) * 1000);
      return [Math.min(Math.max(x, 0), 1000), Math.min(Math.max(y, 0), 1000)];
    };
    wrap.addEventListener("mousedown", (ev) => {
      if (state.selected < 0 || (state.doc && state.doc.review.committed)) return;
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
    window.addEventListener("mouseup", (ev) => {
      if (!start) return;
      const [x, y] = point(ev);
      const e = state.entities[state.selected];
      if (e && Math.abs(x - start[0]) > 2 && Math.abs(y - start[1]) > 2) {
        e.bbox = [Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)];
        e.page = state.page;
        renderEntities();
      }
      start = null;
      drag.hidden = true;
    });
  }

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("selfimprove-token", $("token").value.trim());
    $("token").value = "";
    load();
  });
  $("add-entity").addEventListener("click", () => {
    state.entities.push({ label: "", text: "", page: state.page, bbox: null, confidence: null });
    state.selected = state.entities.length - 1;
    renderEntities();
    const rows = $("entities").querySelectorAll("tbody tr input.label");
    rows[rows.length - 1].focus();
  });
  $("save").addEventListener("click", save);
  $("commit").addEventListener("click", commit);
  $("prev-page").addEventListener("click", () => showPage(state.page - 1));
  $("next-page").addEventListener("click", () => showPage(state.page + 1));
  setupDrawing();
  load();
})();
