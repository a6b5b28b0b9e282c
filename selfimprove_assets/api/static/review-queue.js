// The review page's queue (least certain first, filters) and the actions that save and commit.
// See review.js for how the page's scripts fit together.
"use strict";

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

// After a commit: the open document's new state, the queue and the models' live figures.
async function refreshAfterCommit() {
  if (state.documentId) {
    state.doc = await api("GET", docPath());
    renderState(state.doc);
    renderEntities();
  }
  await loadQueue();
  await loadModels();
}

async function commit() {
  if (!(await save())) return;
  try {
    await commitIds([state.documentId]);
    await refreshAfterCommit();
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
    await refreshAfterCommit();
  } catch (err) {
    show(err.message, "error");
  }
}
